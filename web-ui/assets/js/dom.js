// Tiny DOM helpers: h() builds HTML elements, s() SVG elements. No framework.

const SVGNS = 'http://www.w3.org/2000/svg';

function apply(el, attrs, children) {
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'text') el.textContent = v;
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k === 'value' && 'value' in el) {
        if (el.tagName === 'INPUT') el.setAttribute('value', v);
        el.value = v;
      }
      else if (k === 'checked' || k === 'selected' || k === 'disabled') { el[k] = !!v; if (v) el.setAttribute(k, ''); }
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  return apply(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return apply(document.createElementNS(SVGNS, tag), attrs, children);
}

/** Sets textContent only when it differs (cheap live updates). */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el, name, value) {
  const v = value == null ? null : String(value);
  if (el.getAttribute(name) !== v) {
    if (v == null) el.removeAttribute(name);
    else el.setAttribute(name, v);
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function debounce(fn, ms) {
  let t = null;
  const d = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(t);
  return d;
}

/** A small event emitter. */
export class Emitter {
  constructor() { this.handlers = new Map(); }
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }
  emit(type, ...args) {
    const hs = this.handlers.get(type);
    if (hs) for (const fn of [...hs]) fn(...args);
  }
}

export function isTyping(target) {
  if (!target || !target.tagName) return false;
  const t = target.tagName;
  return t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT' || target.isContentEditable;
}
