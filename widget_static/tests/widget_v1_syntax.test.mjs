// Static checks for the v1 widget script. Run: node --test widget_static/tests/
// No dependencies: node's own test runner, vm parser and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { BANNED_SYNTAX, ES2018_REGEX, codeOnly } from './es2017.mjs';

const WIDGET = fileURLToPath(new URL('../static/widget_static/widget-v1.js', import.meta.url));
const source = readFileSync(WIDGET, 'utf8');

const { code, regexLiterals } = codeOnly(source);

test('the widget parses as a classic script (so no top-level await, no import/export)', () => {
  assert.doesNotThrow(() => new vm.Script(source, { filename: 'widget-v1.js' }));
});

test('the code-only view keeps the code', () => {
  // Sanity check of codeOnly itself: if it ate code, the checks below prove nothing.
  assert.match(code, /function connect\(\)/);
  assert.match(code, /window\.ChatoricalWidgetV1 =/);
  assert.ok(code.length > source.length / 3);
});

test('no syntax newer than ES2017 (iOS 14 Safari, Android 8 Chrome)', () => {
  for (const [re, what] of BANNED_SYNTAX) {
    assert.doesNotMatch(code, re, `found ${what}`);
  }
});

test('no ES2018+ regex features inside the regex literals', () => {
  assert.ok(regexLiterals.length > 3, 'regex literals were found');
  for (const re of regexLiterals) {
    assert.doesNotMatch(re, ES2018_REGEX, `regex ${re} uses ES2018 syntax`);
  }
});

test('no innerHTML / outerHTML / insertAdjacentHTML / document.write at all', () => {
  // Text from visitors and agents must only ever reach the DOM via textContent.
  assert.doesNotMatch(code, /\.(innerHTML|outerHTML)\s*\+?=/);
  assert.doesNotMatch(code, /insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/);
  assert.doesNotMatch(code, /\beval\s*\(|new\s+Function\s*\(/);
});

test('renders in an open shadow root and exposes the test API', () => {
  assert.match(source, /attachShadow\(\{\s*mode:\s*'open'\s*\}\)/);
  assert.match(code, /window\.ChatoricalWidgetV1 = \{\s*open: open, close: close, version: VERSION\s*\}/);
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

test('parses as strict ES2017 with acorn when it is installed (skipped otherwise)', async (t) => {
  let acorn;
  try {
    acorn = await import('acorn');
  } catch {
    t.skip('acorn not installed');
    return;
  }
  assert.doesNotThrow(() => acorn.parse(source, { ecmaVersion: 2017, sourceType: 'script' }));
});
