// The lineage graph of a flowfile: flowfiles (circles) and events (boxes) in layers from
// left to right, drawn in SVG with its own pan and zoom; clicking an event opens it.
import { s, h, clear } from './dom.js';
import { formatClock, shortId } from './format.js';

const COLX = 180;
const ABBR = { ATTRIBUTES_MODIFIED: 'ATTRS MOD', CONTENT_MODIFIED: 'CONTENT MOD' };
const ROWY = 64;

export function eventIdOf(node) {
  if (node.event_id != null) return node.event_id;
  if (node.event && node.event.id != null) return node.event.id;
  const m = /^(?:event[-:])?(\d+)$/.exec(String(node.id));
  return m ? m[1] : node.id;
}

export function renderLineage(container, graph, { onEvent, onFlowfile, focus } = {}) {
  clear(container);
  const nodes = graph.nodes || [];
  const edges = graph.edges || [];
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const inc = new Map(nodes.map((n) => [n.id, []]));
  const out = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!byId.has(e.from) || !byId.has(e.to)) continue;
    out.get(e.from).push(e.to);
    inc.get(e.to).push(e.from);
  }
  // Longest-path layering (Kahn's order); cycles, if any, are broken by visiting order.
  const depth = new Map();
  const indeg = new Map(nodes.map((n) => [n.id, inc.get(n.id).length]));
  const queue = nodes.filter((n) => indeg.get(n.id) === 0).map((n) => n.id);
  for (const id of queue) depth.set(id, 0);
  while (queue.length) {
    const id = queue.shift();
    for (const t of out.get(id)) {
      depth.set(t, Math.max(depth.get(t) || 0, depth.get(id) + 1));
      indeg.set(t, indeg.get(t) - 1);
      if (indeg.get(t) === 0) queue.push(t);
    }
  }
  for (const n of nodes) if (!depth.has(n.id)) depth.set(n.id, 0);
  const layers = [];
  for (const n of nodes) {
    const d = depth.get(n.id);
    (layers[d] = layers[d] || []).push(n);
  }
  const pos = new Map();
  let maxRows = 1;
  layers.forEach((layer, d) => {
    layer.sort((a, b) => (a.timestamp_millis || 0) - (b.timestamp_millis || 0) || String(a.id).localeCompare(String(b.id)));
    maxRows = Math.max(maxRows, layer.length);
  });
  layers.forEach((layer, d) => {
    const off = ((maxRows - layer.length) * ROWY) / 2;
    layer.forEach((n, i) => pos.set(n.id, { x: 40 + d * COLX, y: 40 + off + i * ROWY }));
  });
  const svg = s('svg', { class: 'lineage', 'data-testid': 'lineage-graph', role: 'group', 'aria-label': `Lineage graph: ${nodes.length} nodes` });
  const root = s('g');
  svg.append(s('defs', null, s('marker', { id: 'lin-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 6, markerHeight: 6, orient: 'auto' }, s('path', { d: 'M0 0 L10 5 L0 10 z', class: 'arrow-head' }))), root);
  for (const e of edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + 40, x2 = b.x - 40;
    root.append(s('path', { class: 'lin-edge', d: `M${x1} ${a.y} C${x1 + 50} ${a.y}, ${x2 - 50} ${b.y}, ${x2} ${b.y}`, 'marker-end': 'url(#lin-arrow)' }));
  }
  for (const n of nodes) {
    const p = pos.get(n.id);
    const isEvent = n.kind === 'event';
    const full = isEvent ? (n.event_type || n.type || 'EVENT') : '';
    const label = isEvent ? (ABBR[full] || full) : shortId(n.uuid || n.flowfile_uuid || n.id);
    const g = s('g', { class: `lin-node ${isEvent ? 'lin-event' : 'lin-flowfile'}${focus && (n.uuid === focus || n.id === focus) ? ' focus' : ''}`, transform: `translate(${p.x},${p.y})`, tabindex: 0, role: 'button', 'data-testid': `lineage-node-${n.id}`, 'data-kind': n.kind });
    if (isEvent) {
      g.append(s('rect', { x: -40, y: -17, width: 80, height: 34, rx: 6 }),
        s('text', { class: 'lin-type', 'text-anchor': 'middle', y: -1, text: label.length > 12 ? label.slice(0, 11) + '…' : label }),
        s('text', { class: 'lin-sub', 'text-anchor': 'middle', y: 11, text: n.timestamp_millis ? formatClock(n.timestamp_millis) : '' }));
      g.setAttribute('aria-label', `${full} event${n.component_name ? ' at ' + n.component_name : ''}: open details`);
      g.setAttribute('data-tip', `${full}${n.component_name ? ' · ' + n.component_name : ''}${n.timestamp_millis ? ' · ' + new Date(n.timestamp_millis).toLocaleString() : ''}`);
    } else {
      g.append(s('circle', { r: 14 }), s('text', { class: 'lin-sub', 'text-anchor': 'middle', y: 30, text: label }));
      g.setAttribute('aria-label', `Flowfile ${n.uuid || n.id}`);
      g.setAttribute('data-tip', `Flowfile ${n.uuid || n.id}`);
    }
    const open = () => (isEvent ? onEvent && onEvent(eventIdOf(n), n) : onFlowfile && onFlowfile(n.uuid || n.id, n));
    g.addEventListener('click', open);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } });
    root.append(g);
  }
  // Pan and zoom.
  const view = { x: 0, y: 0, k: 1 };
  const apply = () => root.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    if (e.target.closest('.lin-node')) return;
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag) return;
    view.x = drag.vx + e.clientX - drag.x;
    view.y = drag.vy + e.clientY - drag.y;
    apply();
  });
  svg.addEventListener('pointerup', () => { drag = null; });
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    const px = e.clientX - r.left, py = e.clientY - r.top;
    const k = Math.min(3, Math.max(0.2, view.k * Math.exp(-e.deltaY * 0.0015)));
    view.x = px - ((px - view.x) * k) / view.k;
    view.y = py - ((py - view.y) * k) / view.k;
    view.k = k;
    apply();
  }, { passive: false });
  const zoom = (f) => { view.k = Math.min(3, Math.max(0.2, view.k * f)); apply(); };
  const fit = () => {
    const r = svg.getBoundingClientRect();
    const w = 80 + layers.length * COLX;
    const hgt = 80 + maxRows * ROWY;
    view.k = Math.min(1.2, Math.max(0.2, Math.min(r.width / w, r.height / hgt)));
    view.x = (r.width - (w - 40) * view.k) / 2;
    view.y = (r.height - hgt * view.k) / 2 + 10;
    apply();
  };
  container.append(h('div', { class: 'lineage-bar' },
    h('span', { class: 'muted small', text: `${nodes.filter((n) => n.kind === 'event').length} events, ${nodes.filter((n) => n.kind !== 'event').length} flowfiles${graph.truncated ? ' (truncated: the lineage is larger)' : ''} · drag to pan, wheel to zoom, click an event to open it` }),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'lineage-zoom-in', 'aria-label': 'Zoom in', text: '+', onclick: () => zoom(1.25) }),
    h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'lineage-zoom-out', 'aria-label': 'Zoom out', text: '−', onclick: () => zoom(0.8) }),
    h('button', { type: 'button', class: 'btn small', 'data-testid': 'lineage-fit', text: 'Fit', onclick: fit })), svg);
  requestAnimationFrame(fit);
  return svg;
}
