// Shared by the widget syntax tests: a code-only view of a script, the syntax newer
// than ES2017 (iOS 14 Safari, Android 8 Chrome) that the built script must not use, and
// the checks every widget must pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

// A regex may also follow these keywords: minified code writes `return/re/.test(x)`.
const KEYWORD_BEFORE_REGEX = /(^|[^\w$])(return|typeof|case|void|in|of|delete|throw|new|do|else|yield|await)\s*$/;

// Strips comments, string and template literals and regex literals, so the
// syntax regexes only see code; returns that code and the regex literals.
// Crude but enough for the widgets: it tracks quotes, escapes and the usual
// "a regex may start here" contexts.
export function codeOnly(src) {
  const regexLiterals = [];
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
    if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev) || KEYWORD_BEFORE_REGEX.test(out.slice(-12)))) {
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
  return { code: out, regexLiterals };
}

export const BANNED_SYNTAX = [
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

// Lookbehind, named groups, the s flag and Unicode property escapes.
export const ES2018_REGEX = /\(\?<[=!]|\(\?<[A-Za-z]|\/[gimuy]*s[gimuy]*$|\\p\{/;

// The widget's sources: its entry point under src/, then the core modules it imports,
// each once, in import order.
function widgetSources(entry) {
  const seen = new Set();
  const texts = [];
  const visit = (url) => {
    if (seen.has(url.href)) return;
    seen.add(url.href);
    const text = readFileSync(url, 'utf8');
    texts.push(text);
    for (const [, spec] of text.matchAll(/^\s*import\b[^;]*?from\s*'([^']+)'/gm)) visit(new URL(spec, url));
  };
  visit(new URL(`../src/${entry}`, import.meta.url));
  return texts.join('\n');
}

// The built script, as served; `npm run build` (run by make) writes it.
function builtScript(file) {
  const path = fileURLToPath(new URL(`../static/widget_static/${file}`, import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing: build the widget first (make widget, or npm run build)`);
  return readFileSync(path, 'utf8');
}

// Registers the checks every widget script must pass: on the built script what a browser
// gets (classic script, ES2017, no HTML sinks), on the sources what they must say. Returns
// what the caller's own checks need: the sources, their code-only view, and the built script.
export function checkWidgetScript({ file, entry, globalName }) {
  const built = builtScript(file);
  const builtCode = codeOnly(built);
  const source = widgetSources(entry);
  const { code } = codeOnly(source);

  test('the widget parses as a classic script (so no top-level await, no import/export)', () => {
    assert.doesNotThrow(() => new vm.Script(built, { filename: file }));
  });

  test('the code-only view keeps the code', () => {
    // Sanity check of codeOnly itself: if it ate code, the checks below prove nothing.
    assert.match(code, new RegExp(`window\\.${globalName} =`));
    assert.ok(code.length > source.length / 3);
    assert.ok(builtCode.code.length > built.length / 3);
  });

  test('no syntax newer than ES2017 (iOS 14 Safari, Android 8 Chrome)', () => {
    for (const [re, what] of BANNED_SYNTAX) {
      assert.doesNotMatch(builtCode.code, re, `found ${what}`);
    }
  });

  test('no ES2018+ regex features inside the regex literals', () => {
    assert.ok(builtCode.regexLiterals.length > 3, 'regex literals were found');
    for (const re of builtCode.regexLiterals) {
      assert.doesNotMatch(re, ES2018_REGEX, `regex ${re} uses ES2018 syntax`);
    }
  });

  test('no innerHTML / outerHTML / insertAdjacentHTML / document.write at all', () => {
    // Text from visitors, agents and tenants must only ever reach the DOM via textContent.
    for (const checked of [code, builtCode.code]) {
      assert.doesNotMatch(checked, /\.(innerHTML|outerHTML)\s*\+?=/);
      assert.doesNotMatch(checked, /insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/);
      assert.doesNotMatch(checked, /\beval\s*\(|new\s+Function\s*\(/);
    }
  });

  test('renders in an open shadow root and exposes the test API', () => {
    assert.match(source, /attachShadow\(\{\s*mode:\s*'open'\s*\}\)/);
    assert.match(
      code,
      new RegExp(`window\\.${globalName} = \\{\\s*open: open, close: close, version: VERSION\\s*\\}`),
    );
  });

  return { source, code, built };
}
