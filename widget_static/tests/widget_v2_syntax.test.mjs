// Static checks for the v2 widget: its sources (src/v2.js and the core) and the built script.
// Run: node --test widget_static/tests/*.test.mjs, after the build (make widget).
// No dependencies: node's own test runner, zlib and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { checkWidgetScript } from './es2017.mjs';

const { source, code, built } = checkWidgetScript({ file: 'widget-v2.js', entry: 'v2.js', globalName: 'ChatoricalWidgetV2' });

test('keeps its connect function', () => {
  assert.match(code, /async function connect\(\)/);
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
  const gzipped = gzipSync(Buffer.from(built), { level: 9 }).length;
  assert.ok(gzipped <= 20 * 1024, `widget-v2.js is ${gzipped} bytes gzipped`);
});
