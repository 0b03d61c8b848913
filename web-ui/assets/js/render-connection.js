// One connection on the canvas: a path with an arrow, and a label holding the relationship
// names, the queued count and size and a back-pressure fill bar (green, yellow, red).
import { s, setText, setAttr } from './dom.js';
import { formatCount, formatBytes, parseDataSize } from './format.js';
import { PW, PH } from './render-processor.js';

export const LW = 140;
export const LH = 52;

function truncate(str, n) {
  return str.length > n ? str.slice(0, n - 1) + '…' : str;
}

export function fillRatio(c) {
  const st = c.status || {};
  if (typeof st.fill_ratio === 'number') return st.fill_ratio;
  const byCount = c.back_pressure_object_threshold ? (st.queued_count || 0) / c.back_pressure_object_threshold : 0;
  const max = parseDataSize(c.back_pressure_data_size_threshold);
  const bySize = max ? (st.queued_bytes || 0) / max : 0;
  return Math.max(byCount, bySize);
}

export function fillLevel(ratio, full) {
  if (full || ratio >= 1) return 'full';
  if (ratio > 0.85) return 'red';
  if (ratio > 0.6) return 'yellow';
  return 'green';
}

/**
 * Geometry between two processor boxes. `lane` spreads parallel connections apart.
 * Returns the path and the label centre.
 */
export function geometry(src, dst, lane, bends) {
  const sx = src.x + PW;
  const sy = src.y + PH / 2;
  const tx = dst.x;
  const ty = dst.y + PH / 2;
  if (bends && bends.length) {
    const pts = [[sx, sy], ...bends.map((b) => [b.x, b.y]), [tx, ty]];
    const d = 'M' + pts.map((p) => p.join(' ')).join(' L');
    const mid = bends[Math.floor((bends.length - 1) / 2)];
    return { d, mx: mid.x, my: mid.y };
  }
  const off = lane * 64;
  if (src === dst || (src.x === dst.x && src.y === dst.y)) {
    // Self loop above the box.
    const top = src.y - 70 - off;
    const d = `M${sx} ${sy} C${sx + 90} ${sy}, ${sx + 60} ${top}, ${src.x + PW / 2} ${top} S${tx - 90} ${ty}, ${tx} ${ty}`;
    return { d, mx: src.x + PW / 2, my: top };
  }
  const dx = Math.max(60, Math.abs(tx - sx) / 2);
  let c1x = sx + dx;
  let c2x = tx - dx;
  let c1y = sy + off;
  let c2y = ty + off;
  if (tx < sx + 40) {
    // Backwards: swing below or above.
    const swing = (ty >= sy ? 1 : -1) * (PH + 40) + off;
    c1y = sy + swing;
    c2y = ty + swing;
    c1x = sx + 160;
    c2x = tx - 160;
  }
  const d = `M${sx} ${sy} C${c1x} ${c1y}, ${c2x} ${c2y}, ${tx} ${ty}`;
  // Bezier point at t = 0.5.
  const mx = 0.125 * sx + 0.375 * c1x + 0.375 * c2x + 0.125 * tx;
  const my = 0.125 * sy + 0.375 * c1y + 0.375 * c2y + 0.125 * ty;
  return { d, mx, my };
}

export class ConnectionNode {
  constructor(c) {
    this.id = c.id;
    const id = c.id;
    const g = s('g', { class: 'conn', 'data-testid': `connection-${id}`, 'data-id': id });
    this.g = g;
    this.hit = s('path', { class: 'conn-hit' });
    this.line = s('path', { class: 'conn-line', 'marker-end': 'url(#arrow)' });
    // The label lives in a layer above the processors (see Canvas), so it is never hidden.
    this.label = s('g', { class: 'conn-label', 'data-testid': `connection-label-${id}`, 'data-id': id, tabindex: 0, role: 'button', 'aria-roledescription': 'connection' });
    this.labelBg = s('rect', { class: 'conn-label-bg', width: LW, height: LH, rx: 6 });
    this.rels = s('text', { class: 'conn-rels', x: 9, y: 16 });
    this.queue = s('text', { class: 'conn-queue', x: 9, y: 33 });
    this.qCount = s('tspan', { class: 'conn-count', 'data-testid': `queue-count-${id}` });
    this.qLabel = s('tspan', { text: ' queued' });
    this.queue.append(this.qCount, this.qLabel);
    this.qBytes = s('text', { class: 'conn-bytes', x: LW - 9, y: 33, 'text-anchor': 'end', 'data-testid': `queue-bytes-${id}` });
    this.full = s('text', { class: 'conn-full-tag', x: LW - 4, y: -5, 'text-anchor': 'end', text: '■ FULL' });
    this.barBg = s('rect', { class: 'conn-bar-bg', x: 9, y: 40, width: LW - 18, height: 5, rx: 2.5 });
    this.bar = s('rect', { class: 'conn-bar', x: 9, y: 40, width: 0, height: 5, rx: 2.5, 'data-testid': `queue-fill-${id}` });
    this.label.append(this.labelBg, this.rels, this.full, this.queue, this.qBytes, this.barBg, this.bar);
    g.append(this.hit, this.line);
    this.last = {};
    this.updateConfig(c);
    this.updateStatus(c);
  }

  setGeometry(geo) {
    setAttr(this.hit, 'd', geo.d);
    setAttr(this.line, 'd', geo.d);
    this.label.setAttribute('transform', `translate(${Math.round(geo.mx - LW / 2)},${Math.round(geo.my - LH / 2)})`);
    this.mx = geo.mx;
    this.my = geo.my;
  }

  updateConfig(c) {
    const rels = (c.relationships || []).join(', ');
    setText(this.rels, truncate(c.name ? `${c.name}: ${rels}` : rels, 19));
    this.names = rels;
    this.threshold = `${formatCount(c.back_pressure_object_threshold)} objects or ${c.back_pressure_data_size_threshold}`;
  }

  updateStatus(c) {
    const st = c.status || {};
    const n = st.queued_count || 0;
    const ratio = fillRatio(c);
    const level = fillLevel(ratio, st.back_pressure);
    setText(this.qCount, formatCount(n));
    setAttr(this.qCount, 'data-count', n);
    setText(this.qBytes, formatBytes(st.queued_bytes || 0));
    const w = Math.round(Math.min(1, Math.max(0, ratio)) * (LW - 18));
    setAttr(this.bar, 'width', n > 0 ? Math.max(2, w) : 0);
    if (this.last.level !== level) {
      this.last.level = level;
      this.g.dataset.level = level;
      this.label.dataset.level = level;
      this.line.setAttribute('marker-end', level === 'full' ? 'url(#arrow-full)' : 'url(#arrow)');
    }
    const pct = Math.round(ratio * 100);
    const tip = `${this.names}\nQueued ${formatCount(n)} (${formatBytes(st.queued_bytes || 0)}), ${pct}% of back pressure threshold (${this.threshold})${st.back_pressure ? '\nBACK PRESSURE: the source is not scheduled until the queue drains' : ''}`;
    if (this.last.tip !== tip) {
      this.last.tip = tip;
      this.label.setAttribute('data-tip', tip);
      this.label.setAttribute('aria-label', `Connection ${this.names}, ${formatCount(n)} queued, ${pct}% full${st.back_pressure ? ', back pressure' : ''}`);
    }
  }

  setSelected(on) {
    this.g.classList.toggle('selected', on);
    this.label.classList.toggle('selected', on);
    this.label.setAttribute('aria-pressed', on ? 'true' : 'false');
  }

  remove() {
    this.g.remove();
    this.label.remove();
  }
}
