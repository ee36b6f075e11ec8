// The script tag that loaded the widget, and the server it came from.

// document.currentScript is only set while the script first runs: call this then.
export function findOwnScript(selector, pathRe) {
  var cur = document.currentScript;
  if (cur && cur.src) return cur;
  var scripts = document.querySelectorAll(selector);
  for (var i = scripts.length - 1; i >= 0; i--) {
    if (pathRe.test((scripts[i].src || '').split(/[?#]/)[0])) return scripts[i];
  }
  return null;
}

// The http(s) origin of the script, or null: the widget then stays off.
export function scriptOrigin(script) {
  var origin;
  try { origin = new URL(script.src, location.href).origin; } catch (e) { return null; }
  return /^https?:\/\//.test(origin) ? origin : null;
}

// An async script can run before <body> exists.
export function whenBodyReady(run) {
  if (document.body) run();
  else document.addEventListener('DOMContentLoaded', function () { run(); });
}
