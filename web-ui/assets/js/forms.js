// Form field builders shared by the side panels.
import { h } from './dom.js';

let seq = 0;
export const uid = (p = 'f') => `${p}-${++seq}`;

/** A labelled field: label, control, description, error line. */
export function field({ label, control, desc, required, badge, testid, extra }) {
  const id = control.id || (control.id = uid());
  const err = h('div', { class: 'field-error', id: `${id}-err`, role: 'alert', 'data-testid': testid ? `field-error-${testid}` : null });
  const hint = desc ? h('div', { class: 'field-desc', id: `${id}-desc`, text: desc }) : null;
  control.setAttribute('aria-describedby', [desc ? `${id}-desc` : null, `${id}-err`].filter(Boolean).join(' '));
  const row = h('div', { class: 'field', 'data-field': testid || label },
    h('label', { for: id, class: 'field-label' }, label, required ? h('span', { class: 'req', 'aria-label': 'required', text: ' *' }) : null, badge || null),
    h('div', { class: 'field-control' }, control, extra || null),
    hint, err);
  row.setError = (msg) => {
    err.textContent = msg || '';
    row.classList.toggle('invalid', !!msg);
    control.setAttribute('aria-invalid', msg ? 'true' : 'false');
  };
  return row;
}

export function select(options, value, attrs = {}) {
  const el = h('select', attrs, options.map((o) => {
    const v = typeof o === 'string' ? o : o.value;
    const t = typeof o === 'string' ? o : o.label;
    return h('option', { value: v, text: t, selected: v === value, title: o.title || null });
  }));
  el.value = value ?? '';
  return el;
}

export function checkbox(label, checked, attrs = {}) {
  const input = h('input', { type: 'checkbox', checked, ...attrs });
  const l = h('label', { class: 'check' }, input, h('span', { text: label }));
  l.input = input;
  return l;
}

export function button(text, attrs = {}) {
  return h('button', { type: 'button', class: 'btn', ...attrs, text });
}

/** NiFi durations: "30 sec", "5 mins", "100 ms", "1 hour". */
export function validDuration(s) {
  return /^\s*\d+(\.\d+)?\s*(ns|nanos?|nanoseconds?|ms|millis?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|wks?|weeks?)\s*$/i.test(s || '');
}

export function validDataSize(s) {
  return /^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB)\s*$/i.test(s || '');
}

/** Tabs with roving keyboard focus (ArrowLeft/Right). */
export function tabs(defs, onChange) {
  const list = h('div', { class: 'tabs', role: 'tablist' });
  const panels = [];
  const btns = defs.map((d, i) => {
    const tid = uid('tab');
    const pid = uid('tabpanel');
    const b = h('button', { type: 'button', role: 'tab', id: tid, class: 'tab', 'aria-controls': pid, 'aria-selected': i === 0 ? 'true' : 'false', tabindex: i === 0 ? 0 : -1, 'data-testid': `tab-${d.key}`, text: d.label });
    const p = h('div', { role: 'tabpanel', id: pid, class: 'tabpanel', 'aria-labelledby': tid, hidden: i !== 0, 'data-testid': `tabpanel-${d.key}` });
    panels.push(p);
    b.addEventListener('click', () => activate(i));
    b.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
        e.preventDefault();
        const n = (i + (e.key === 'ArrowRight' ? 1 : -1) + defs.length) % defs.length;
        activate(n);
        btns[n].focus();
      }
    });
    list.append(b);
    return b;
  });
  let current = 0;
  function activate(i) {
    current = i;
    btns.forEach((b, j) => {
      b.setAttribute('aria-selected', j === i ? 'true' : 'false');
      b.tabIndex = j === i ? 0 : -1;
      panels[j].hidden = j !== i;
    });
    onChange && onChange(defs[i].key);
  }
  return { list, panels, activate, get current() { return defs[current].key; }, keys: defs.map((d) => d.key) };
}

/** A sparkline of numbers as an SVG polyline. */
export function sparkline(values, { width = 320, height = 56, label = '' } = {}) {
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...values);
  const n = values.length;
  const pts = values.map((v, i) => `${n > 1 ? (i / (n - 1)) * width : 0},${height - 4 - (v / max) * (height - 8)}`).join(' ');
  const area = document.createElementNS(NS, 'polygon');
  area.setAttribute('points', `0,${height} ${pts} ${width},${height}`);
  area.setAttribute('class', 'spark-area');
  const line = document.createElementNS(NS, 'polyline');
  line.setAttribute('points', pts);
  line.setAttribute('class', 'spark-line');
  svg.append(area, line);
  const last = values.length ? values[values.length - 1] : 0;
  svg.setAttribute('aria-label', `${label}: ${values.length} samples, latest ${last}, peak ${Math.max(0, ...values)}`);
  return svg;
}

/**
 * A message box for a refused action (role=alert, stays until dismissed or replaced): the
 * server's own words, its listed reasons, and an optional action button.
 */
export function errorNotice(testid) {
  const text = h('div', { class: 'notice-text', 'data-testid': `${testid}-text` });
  const list = h('ul', { class: 'notice-details' });
  const actions = h('span', { class: 'btn-row' });
  const el = h('div', { class: 'notice notice-error', role: 'alert', 'data-testid': testid, hidden: true },
    h('span', { class: 'notice-icon', 'aria-hidden': 'true', text: '!' }),
    h('div', { class: 'notice-body' }, text, list, actions),
    h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Dismiss the message', 'data-testid': `${testid}-dismiss`, text: '×', onclick: () => el.clear() }));
  /** Shows `prefix: message` with the error's status; details only when they are reasons (not an echoed object). */
  el.show = (prefix, err, action) => {
    const msg = err && err.message ? err.message : String(err || '');
    text.textContent = prefix ? `${prefix}: ${msg}` : msg;
    el.dataset.status = err && err.status != null ? String(err.status) : '';
    list.replaceChildren(...(err && Array.isArray(err.details) ? err.details : []).slice(0, 12)
      .map((d) => h('li', { text: typeof d === 'string' ? d : d.path ? `${d.path}: ${d.message}` : d.message || JSON.stringify(d) })));
    actions.replaceChildren(...(action ? [button(action.label, { class: 'btn small', 'data-testid': `${testid}-action`, onclick: action.run })] : []));
    el.hidden = false;
  };
  el.clear = () => { el.hidden = true; text.textContent = ''; list.replaceChildren(); actions.replaceChildren(); el.dataset.status = ''; };
  return el;
}
