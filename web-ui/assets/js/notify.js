// Toast messages (aria-live) for results and errors; never blocking.
import { h } from './dom.js';
import { detailLines } from './api.js';

let host;
function root() {
  if (!host) host = document.getElementById('toasts');
  return host;
}

export function toast(message, { kind = 'info', details = [], timeout } = {}) {
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `toast-${kind}` },
    h('div', { class: 'toast-msg', text: message }),
    details.length ? h('ul', { class: 'toast-details' }, details.slice(0, 12).map((d) => h('li', { text: d }))) : null,
    h('button', { class: 'icon-btn toast-close', 'aria-label': 'Dismiss message', text: '×', onclick: () => el.remove() }));
  root().append(el);
  const t = timeout ?? (kind === 'error' ? 9000 : 3500);
  if (t > 0) setTimeout(() => el.remove(), t);
  while (root().children.length > 5) root().firstChild.remove();
  return el;
}

export function toastError(prefix, err) {
  const msg = err && err.message ? err.message : String(err);
  return toast(prefix ? `${prefix}: ${msg}` : msg, { kind: 'error', details: detailLines(err) });
}
