// Static checks for the v2 widget script. Run: node --test widget_static/tests/*.test.mjs
// No dependencies: node's own test runner, vm parser, zlib and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { gzipSync } from 'node:zlib';
import { BANNED_SYNTAX, ES2018_REGEX, codeOnly } from './es2017.mjs';

const WIDGET = fileURLToPath(new URL('../static/widget_static/widget-v2.js', import.meta.url));
const source = readFileSync(WIDGET, 'utf8');
const { code, regexLiterals } = codeOnly(source);

test('the widget parses as a classic script (so no top-level await, no import/export)', () => {
  assert.doesNotThrow(() => new vm.Script(source, { filename: 'widget-v2.js' }));
});

test('the code-only view keeps the code', () => {
  // Sanity check of codeOnly itself: if it ate code, the checks below prove nothing.
  assert.match(code, /async function connect\(\)/);
  assert.match(code, /window\.ChatoricalWidgetV2 =/);
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
  // Text from visitors, agents and tenants must only ever reach the DOM via textContent.
  assert.doesNotMatch(code, /\.(innerHTML|outerHTML)\s*\+?=/);
  assert.doesNotMatch(code, /insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/);
  assert.doesNotMatch(code, /\beval\s*\(|new\s+Function\s*\(/);
});

test('renders in an open shadow root and exposes the test API', () => {
  assert.match(source, /attachShadow\(\{\s*mode:\s*'open'\s*\}\)/);
  assert.match(code, /window\.ChatoricalWidgetV2 = \{\s*open: open, close: close, version: VERSION\s*\}/);
});

test('persists only the conversation id, under its per-tenant key', () => {
  assert.match(source, /'chatorical:v2:' \+ cfg\.tenant/);
  const writes = source.match(/localStorage\.setItem\([^)]*\)/g);
  assert.deepEqual(writes, ['localStorage.setItem(STORAGE_KEY, id)']);
  assert.doesNotMatch(code, /sessionStorage|document\.cookie|indexedDB/);
});

test('asks for a token before every socket and resumes by seq', () => {
  assert.match(source, /'\/v2\/tenants\/'/);
  assert.match(source, /'\/bootstrap'/);
  assert.match(source, /'&after_seq=' \+ state\.lastSeq/);
  // The only WebSocket is opened right after the token request of the same connect().
  const connect = source.slice(source.indexOf('async function connect()'), source.indexOf('function scheduleReconnect'));
  assert.match(connect, /await api\('POST', fill\(boot\.api\.token/);
  assert.equal(source.match(/new WebSocket\(/g).length, 1);
  assert.ok(connect.includes('new WebSocket('));
});

test('is at most 20 KB gzipped', () => {
  const gzipped = gzipSync(Buffer.from(source), { level: 9 }).length;
  assert.ok(gzipped <= 20 * 1024, `widget-v2.js is ${gzipped} bytes gzipped`);
});
