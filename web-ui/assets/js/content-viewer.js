// Shows a flowfile's content as text, pretty JSON or hex; loads the bytes once.
import { h, clear } from './dom.js';
import { api } from './api.js';
import { formatBytes, hexDump } from './format.js';

const MAX_TEXT = 1 << 20;

export function contentViewer(url, { label = 'Content', testid = 'content-viewer' } = {}) {
  const body = h('pre', { class: 'content-body', tabindex: 0, 'data-testid': `${testid}-body`, 'aria-label': `${label}` });
  const info = h('span', { class: 'muted small' });
  const modes = ['text', 'json', 'hex'];
  const btns = modes.map((m) => h('button', { type: 'button', class: 'seg', 'data-mode': m, 'data-testid': `${testid}-mode-${m}`, 'aria-pressed': 'false', text: m === 'json' ? 'JSON' : m[0].toUpperCase() + m.slice(1) }));
  const dl = h('a', { class: 'btn small', href: url, download: '', text: 'Download' });
  const el = h('div', { class: 'content-viewer', 'data-testid': testid },
    h('div', { class: 'content-bar' }, h('div', { class: 'segmented', role: 'group', 'aria-label': `${label} view mode` }, btns), info, h('span', { class: 'spacer' }), dl),
    body);
  let bytes = null;
  let mode = null;
  let mime = '';
  const show = (m) => {
    mode = m;
    btns.forEach((b) => b.setAttribute('aria-pressed', b.dataset.mode === m ? 'true' : 'false'));
    if (!bytes) return;
    body.classList.toggle('hex', m === 'hex');
    if (m === 'hex') {
      body.textContent = hexDump(bytes);
      return;
    }
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, MAX_TEXT));
    if (m === 'json') {
      try {
        body.textContent = JSON.stringify(JSON.parse(text), null, 2);
      } catch (e) {
        body.textContent = `Not valid JSON (${e.message}).\n\n${text}`;
      }
    } else {
      body.textContent = text + (bytes.length > MAX_TEXT ? `\n… ${formatBytes(bytes.length - MAX_TEXT)} more (download to see all)` : '');
    }
  };
  btns.forEach((b) => b.addEventListener('click', () => show(b.dataset.mode)));
  (async () => {
    body.textContent = 'Loading…';
    try {
      const res = await api.raw(url);
      mime = res.headers.get('content-type') || '';
      bytes = new Uint8Array(await res.arrayBuffer());
      info.textContent = `${formatBytes(bytes.length)}${mime ? ' · ' + mime : ''}`;
      if (!bytes.length) {
        body.textContent = '(empty content)';
        btns.forEach((b) => b.setAttribute('aria-pressed', 'false'));
        return;
      }
      const head = new TextDecoder().decode(bytes.subarray(0, 2000));
      const binary = /[\x00-\x08\x0e-\x1f]/.test(head);
      const looksJson = /json/.test(mime) || /^\s*[[{]/.test(head);
      show(binary ? 'hex' : looksJson ? 'json' : 'text');
    } catch (e) {
      clear(body).append(h('span', { class: 'error-text', text: e.status === 404 ? `Content not available: ${e.message}` : `Could not load content: ${e.message}` }));
      el.classList.add('unavailable');
    }
  })();
  el.showMode = show;
  return el;
}
