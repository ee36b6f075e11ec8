// Static checks for the v1 widget: its sources (src/v1.js and the core) and the built script.
// Run: node --test widget_static/tests/*.test.mjs, after the build (make widget).
// No dependencies: node's own test runner, vm parser and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkWidgetScript } from './es2017.mjs';

const { source, code, built } = checkWidgetScript({ file: 'widget-v1.js', entry: 'v1.js', globalName: 'ChatoricalWidgetV1' });

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
  assert.ok(Buffer.byteLength(built) < 32 * 1024, `widget-v1.js is ${Buffer.byteLength(built)} bytes`);
});
