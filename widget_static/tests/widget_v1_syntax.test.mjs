// Static checks for the v1 widget script. Run: node --test widget_static/tests/*.test.mjs
// No dependencies: node's own test runner, vm parser and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWidgetScript } from './es2017.mjs';

const { source, code } = checkWidgetScript({ file: 'widget-v1.js', globalName: 'ChatoricalWidgetV1' });

test('keeps its connect function', () => {
  assert.match(code, /function connect\(\)/);
});

test('keeps the v1 storage key and the fixed server paths', () => {
  assert.match(source, /'chatorical:v1'/);
  for (const path of ["'/v1/start'", "'/v1/conversations/'", "'/v1/ws?token='"]) {
    assert.ok(source.includes(path), `missing ${path}`);
  }
});

test('stays small enough to read', () => {
  assert.ok(Buffer.byteLength(source) < 32 * 1024, `widget-v1.js is ${Buffer.byteLength(source)} bytes`);
});
