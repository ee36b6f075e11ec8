// Static checks for the v1 widget script. Run: node --test widget_static/tests/
// No dependencies: node's own test runner, vm parser and regexes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const WIDGET = fileURLToPath(new URL('../static/widget_static/widget-v1.js', import.meta.url));
const source = readFileSync(WIDGET, 'utf8');

// Strips comments, string and template literals and regex literals, so the
// syntax regexes below only see code. Crude but enough for this file: it
// tracks quotes, escapes and the usual "a regex may start here" contexts.
const regexLiterals = [];
function codeOnly(src) {
  let out = '';
  let i = 0;
  let prev = ''; // last significant code character, to tell "/" regex from division
  while (i < src.length) {
    const c = src[i];
    const next = src[i + 1];
    if (c === '/' && next === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      out += ' ';
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      i++;
      while (i < src.length && src[i] !== c) i += src[i] === '\\' ? 2 : 1;
      i++;
      out += '""';
      prev = '"';
      continue;
    }
    if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev))) {
      const start = i;
      i++;
      let inClass = false;
      while (i < src.length && (src[i] !== '/' || inClass)) {
        if (src[i] === '\\') i++;
        else if (src[i] === '[') inClass = true;
        else if (src[i] === ']') inClass = false;
        i++;
      }
      i++;
      while (/[a-z]/i.test(src[i] || '')) i++; // flags
      regexLiterals.push(src.slice(start, i));
      out += '/r/';
      prev = '/';
      continue;
    }
    out += c;
    if (!/\s/.test(c)) prev = c;
    i++;
  }
  return out;
}

const code = codeOnly(source);

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
  const banned = [
    [/\?\.(?!\d)/, 'optional chaining ?.'],
    [/\?\?/, 'nullish coalescing ??'],
    [/(^|[^\w$])#[A-Za-z_$]/m, 'private class member #name'],
    [/\bcatch\s*\{/, 'optional catch binding catch {}'],
    [/\{\s*\.\.\./, 'object spread / rest { ...x }'],
    [/,\s*\.\.\.\w+\s*\}/, 'object spread / rest { a, ...x }'],
    [/\bfor\s+await\b/, 'for await'],
    [/\bstatic\s+[\w$]+\s*=/, 'class static field'],
    [/\b\d+n\b/, 'BigInt literal'],
    [/\d_\d/, 'numeric separator'],
    [/(\|\||&&|\?\?)=/, 'logical assignment'],
    [/\bimport\s*\(|^\s*import\s|^\s*export\s/m, 'module syntax'],
  ];
  for (const [re, what] of banned) {
    assert.doesNotMatch(code, re, `found ${what}`);
  }
});

test('no ES2018+ regex features inside the regex literals', () => {
  assert.ok(regexLiterals.length > 3, 'regex literals were found');
  for (const re of regexLiterals) {
    assert.doesNotMatch(re, /\(\?<[=!]|\(\?<[A-Za-z]|\/[gimuy]*s[gimuy]*$|\\p\{/, `regex ${re} uses ES2018 syntax`);
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
