// DOM building without innerHTML: every text goes through textContent.

export function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (k) {
    var v = attrs[k];
    if (v == null || v === false) return;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.slice(0, 2) === 'on') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  });
  (children || []).forEach(function (c) { if (c) node.appendChild(c); });
  return node;
}

export function button(cls, text, onclick, label) {
  return el('button', { type: onclick ? 'button' : 'submit', class: cls, text: text, onclick: onclick, 'aria-label': label });
}

export function svg(tag, attrs) {
  var node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
  return node;
}

export function showText(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

export function labelled(id, text, input) {
  return [el('label', { for: id, text: text }), input];
}
