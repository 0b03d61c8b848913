// One processor on the canvas: an SVG <g> built once; update() touches only what changed.
import { s, setText, setAttr } from './dom.js';
import { formatCount, formatBytes, formatNanos } from './format.js';

export const PW = 240;
export const PH = 100;

const ICONS = {
  RUNNING: 'M2 1 L13 7.5 L2 14 Z',
  STOPPED: 'M2 2 H13 V13 H2 Z',
  DISABLED: 'M7.5 1 A6.5 6.5 0 1 0 7.6 1 Z M3 12 L12 3',
  INVALID: 'M7.5 1 L14.5 14 H0.5 Z M7.5 5.5 V9.5 M7.5 11.2 V11.8',
};

function truncate(str, n) {
  str = str || '';
  return str.length > n ? str.slice(0, n - 1) + '…' : str;
}

/** Relationships of `p` that are neither connected nor auto-terminated. */
export function unconnectedRelationships(p, outgoing) {
  const rels = p.relationships || [];
  const auto = new Set(p.auto_terminated_relationships || []);
  const used = new Set();
  for (const c of outgoing) for (const r of c.relationships || []) used.add(r);
  return rels.filter((r) => !auto.has(r) && !used.has(r));
}

export class ProcessorNode {
  constructor(p) {
    this.id = p.id;
    const id = p.id;
    const g = s('g', { class: 'proc', 'data-testid': `processor-${id}`, 'data-id': id, tabindex: 0, role: 'button', 'aria-roledescription': 'processor' });
    this.g = g;
    this.shadow = s('rect', { class: 'proc-shadow', x: 1, y: 2, width: PW, height: PH, rx: 8 });
    this.box = s('rect', { class: 'proc-box', width: PW, height: PH, rx: 8 });
    this.stripe = s('rect', { class: 'proc-stripe', x: 0, y: 0, width: 5, height: PH, rx: 2 });
    this.iconWrap = s('g', { class: 'proc-state', transform: 'translate(12,11)', 'data-testid': `state-${id}` });
    this.iconHit = s('rect', { x: -3, y: -3, width: 21, height: 21, fill: 'transparent' });
    this.icon = s('path', { d: ICONS.STOPPED });
    this.iconWrap.append(this.iconHit, this.icon);
    this.name = s('text', { class: 'proc-name', x: 36, y: 23, 'data-testid': `processor-name-${id}` });
    this.type = s('text', { class: 'proc-type', x: 36, y: 39 });
    this.badge = s('g', { class: 'proc-badge', transform: `translate(${PW - 18},16)`, 'data-testid': `bulletin-badge-${id}`, role: 'button', tabindex: -1, 'aria-label': 'Bulletins' });
    this.badgeBg = s('circle', { r: 9 });
    this.badgeText = s('text', { 'text-anchor': 'middle', y: 3.5 });
    this.badge.append(this.badgeBg, this.badgeText);
    this.tasksText = s('text', { class: 'proc-active', x: PW - 10, y: 39, 'text-anchor': 'end' });
    const sep = s('line', { class: 'proc-sep', x1: 10, x2: PW - 10, y1: 49, y2: 49 });
    const col = (x, label) => {
      const l = s('text', { class: 'proc-stat-label', x, y: 63, text: label });
      const v = s('text', { class: 'proc-stat-value', x, y: 78 });
      const sub = s('text', { class: 'proc-stat-sub', x, y: 92 });
      return [l, v, sub];
    };
    const [inL, inV, inS] = col(14, 'In');
    const [outL, outV, outS] = col(86, 'Out');
    const [tL, tV, tS] = col(158, 'Tasks');
    this.inV = inV; this.inS = inS; this.outV = outV; this.outS = outS; this.tV = tV; this.tS = tS;
    inV.setAttribute('data-testid', `processor-in-${id}`);
    outV.setAttribute('data-testid', `processor-out-${id}`);
    const win = s('text', { class: 'proc-window', x: PW - 10, y: 63, 'text-anchor': 'end', text: '5 min' });
    this.portIn = s('circle', { class: 'port-in', cx: 0, cy: PH / 2, r: 5 });
    this.portOut = s('g', { class: 'port-out', 'data-testid': `port-out-${id}`, 'data-id': id, transform: `translate(${PW},${PH / 2})` },
      s('circle', { class: 'port-out-hit', r: 13 }),
      s('circle', { class: 'port-out-dot', r: 7 }),
      s('path', { class: 'port-out-arrow', d: 'M-2.5 -3.5 L2.5 0 L-2.5 3.5' }));
    this.portOut.append(s('title', { text: 'Drag to another processor to connect' }));
    // Unconnected relationships: a pill under the box with a one-click auto-terminate.
    this.warn = s('g', { class: 'proc-unconnected', transform: `translate(0,${PH + 6})`, 'data-testid': `unconnected-${id}` });
    this.warnBg = s('rect', { class: 'proc-unconnected-bg', height: 22, rx: 11, width: PW });
    this.warnText = s('text', { x: 10, y: 15 });
    this.warnBtn = s('g', { class: 'svg-btn', role: 'button', tabindex: 0, 'data-testid': `autoterminate-${id}`, 'aria-label': 'Auto-terminate the unconnected relationships' });
    this.warnBtnBg = s('rect', { height: 18, rx: 9, y: 2, width: 100 });
    this.warnBtnText = s('text', { x: 50, y: 15, 'text-anchor': 'middle', text: 'Auto-terminate' });
    this.warnBtn.append(this.warnBtnBg, this.warnBtnText);
    this.warn.append(this.warnBg, this.warnText, this.warnBtn);
    g.append(this.shadow, this.box, this.stripe, this.iconWrap, this.name, this.type, this.tasksText, this.badge, sep,
      inL, inV, inS, outL, outV, outS, tL, tV, tS, win, this.portIn, this.portOut, this.warn);
    this.last = {};
    this.update(p, []);
  }

  setPosition(x, y) {
    this.x = x;
    this.y = y;
    this.g.setAttribute('transform', `translate(${x},${y})`);
  }

  /** Full update (configuration and figures). */
  update(p, unconnected) {
    if (!p.position) p.position = { x: 0, y: 0 };
    if (p.position.x !== this.x || p.position.y !== this.y) this.setPosition(p.position.x, p.position.y);
    setText(this.name, truncate(p.name || p.type, 24));
    setText(this.type, truncate(p.type, 24));
    this.updateStatus(p);
    if (unconnected) this.setUnconnected(unconnected);
  }

  setUnconnected(list) {
    const key = list.join(',');
    if (this.last.unconnected === key) return;
    this.last.unconnected = key;
    if (!list.length) {
      this.warn.style.display = 'none';
      return;
    }
    this.warn.style.display = '';
    const label = `${truncate(list.join(', '), 10)} unconnected`;
    this.warn.setAttribute('data-tip', `Not connected and not auto-terminated: ${list.join(', ')}. Connect them, or auto-terminate them in one click.`);
    this.warnText.textContent = '⚠ ' + label;
    this.warnBtn.setAttribute('transform', `translate(${PW - 102},0)`);
  }

  /** Figures and run state only (called on every status tick). */
  updateStatus(p) {
    const st = p.status || {};
    const invalid = (p.validation_errors || []).length > 0;
    const state = p.state || 'STOPPED';
    const visual = invalid && state !== 'RUNNING' ? 'INVALID' : state;
    if (this.last.visual !== visual) {
      this.last.visual = visual;
      this.g.dataset.state = visual.toLowerCase();
      this.icon.setAttribute('d', ICONS[visual] || ICONS.STOPPED);
    }
    const reasons = invalid ? (p.validation_errors || []).join('\n') : '';
    const tip = invalid ? `Invalid:\n${reasons}` : state === 'RUNNING' ? 'Running' : state === 'DISABLED' ? 'Disabled' : 'Stopped';
    if (this.last.tip !== tip) {
      this.last.tip = tip;
      this.iconWrap.setAttribute('data-tip', tip);
      this.g.setAttribute('aria-label', `${p.name || p.type} (${p.type}), ${state.toLowerCase()}${invalid ? ', invalid: ' + reasons : ''}`);
    }
    setText(this.inV, formatCount(st.flowfiles_in));
    setText(this.inS, formatBytes(st.bytes_in));
    setText(this.outV, formatCount(st.flowfiles_out));
    setText(this.outS, formatBytes(st.bytes_out));
    setText(this.tV, formatCount(st.tasks));
    setText(this.tS, formatNanos(st.task_nanos));
    const active = p.active_tasks || 0;
    setText(this.tasksText, active ? `${active} active` : '');
    const bc = p.bulletin_count || 0;
    if (this.last.bc !== bc) {
      this.last.bc = bc;
      this.badge.style.display = bc ? '' : 'none';
      this.badgeText.textContent = bc > 99 ? '99+' : String(bc);
      setAttr(this.badge, 'aria-label', `${bc} bulletin${bc === 1 ? '' : 's'}`);
      setAttr(this.badge, 'data-tip', `${bc} bulletin${bc === 1 ? '' : 's'}: click to show`);
    }
  }

  setSelected(on) {
    this.g.classList.toggle('selected', on);
    this.g.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
}
