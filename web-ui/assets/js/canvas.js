// The flow canvas: an SVG whose one root <g> carries pan and zoom. Processors and
// connections are built once and updated in place (maps id → node); numbers change on
// each status tick without touching the rest of the tree.
import { s, Emitter } from './dom.js';
import { ProcessorNode, PW, PH, unconnectedRelationships } from './render-processor.js';
import { ConnectionNode, geometry } from './render-connection.js';

export const GRID = 16;
export const snap = (v) => Math.round(v / GRID) * GRID;

export class Canvas extends Emitter {
  constructor(wrap, store) {
    super();
    this.wrap = wrap;
    this.store = store;
    this.view = { x: 40, y: 40, k: 1 };
    this.pnodes = new Map();
    this.cnodes = new Map();
    this.selP = new Set();
    this.selC = new Set();
    this.dirtyGeo = new Set();
    this.dirtyUnc = new Set();
    this.dirtyLanes = new Set();
    this.lanes = new Map();
    this.flushQueued = false;
    this.snapEnabled = true;
    this.build();
    this.bindStore();
    this.bindPointer();
  }

  build() {
    const defs = s('defs', null,
      s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse', markerUnits: 'userSpaceOnUse' },
        s('path', { class: 'arrow-head', d: 'M0 0 L10 5 L0 10 z' })),
      s('marker', { id: 'arrow-full', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, orient: 'auto-start-reverse', markerUnits: 'userSpaceOnUse' },
        s('path', { class: 'arrow-head-full', d: 'M0 0 L10 5 L0 10 z' })));
    this.svg = s('svg', { id: 'canvas', class: 'canvas', 'data-testid': 'canvas', role: 'group', 'aria-label': 'Flow canvas: processors and connections' });
    // The grid is the wrapper's CSS background (cheap to move); this rect takes the clicks.
    this.bg = s('rect', { class: 'canvas-bg', x: 0, y: 0, width: '100%', height: '100%' });
    this.root = s('g', { class: 'viewport' });
    this.layerLabels = s('g', { class: 'layer-labels' });
    this.layerConn = s('g', { class: 'layer-connections' });
    this.layerProc = s('g', { class: 'layer-processors' });
    this.layerConnLabels = s('g', { class: 'layer-connection-labels' });
    this.layerOver = s('g', { class: 'layer-overlay' });
    this.root.append(this.layerLabels, this.layerConn, this.layerProc, this.layerConnLabels, this.layerOver);
    this.lasso = s('rect', { class: 'lasso', visibility: 'hidden' });
    this.svg.append(defs, this.bg, this.root, this.lasso);
    this.grid = document.createElement('div');
    this.grid.className = 'canvas-grid';
    this.grid.setAttribute('aria-hidden', 'true');
    this.wrap.prepend(this.grid, this.svg);
    new ResizeObserver(() => { this.svgRect = null; this.cull(); }).observe(this.svg);
    this.applyView();
  }

  // ---------------------------------------------------------------- store → nodes
  bindStore() {
    const st = this.store;
    st.on('processor:add', (p) => this.addProcessor(p));
    st.on('processor:update', (p) => {
      const n = this.pnodes.get(p.id);
      if (!n) return this.addProcessor(p);
      if (!this.dragging || !this.selP.has(p.id)) {
        const moved = n.x !== p.position.x || n.y !== p.position.y;
        n.update(p);
        if (moved) this.markAttached(p.id);
      } else n.updateStatus(p);
      this.dirtyUnc.add(p.id);
      this.schedule();
    });
    st.on('processor:remove', (id) => {
      const n = this.pnodes.get(id);
      if (n) n.g.remove();
      this.pnodes.delete(id);
      this.selP.delete(id);
      this.emit('selection');
      this.schedule();
    });
    st.on('connection:add', (c) => this.addConnection(c));
    st.on('connection:update', (c, old) => {
      const n = this.cnodes.get(c.id);
      if (!n) return this.addConnection(c);
      n.updateConfig(c);
      n.updateStatus(c);
      if (old && (old.source !== c.source || old.destination !== c.destination)) {
        this.dirtyLanes.add(laneKey(old));
        if (old.source !== c.source) this.dirtyUnc.add(old.source);
      }
      this.dirtyLanes.add(laneKey(c));
      this.dirtyGeo.add(c.id);
      this.dirtyUnc.add(c.source);
      this.schedule();
    });
    st.on('connection:remove', (id, c) => {
      const n = this.cnodes.get(id);
      if (n) n.remove();
      this.cnodes.delete(id);
      this.selC.delete(id);
      if (c) {
        this.dirtyLanes.add(laneKey(c));
        this.dirtyUnc.add(c.source);
      }
      this.emit('selection');
      this.schedule();
    });
    st.on('status', (msg) => this.applyStatus(msg));
    st.on('flow', () => {
      this.renderLabels();
      this.schedule();
    });
  }

  addProcessor(p) {
    const n = new ProcessorNode(p);
    this.pnodes.set(p.id, n);
    this.layerProc.append(n.g);
    this.dirtyUnc.add(p.id);
    this.markAttached(p.id);
    this.schedule();
  }

  addConnection(c) {
    const n = new ConnectionNode(c);
    this.cnodes.set(c.id, n);
    this.layerConn.append(n.g);
    this.layerConnLabels.append(n.label);
    this.dirtyLanes.add(laneKey(c));
    this.dirtyGeo.add(c.id);
    this.dirtyUnc.add(c.source);
    this.schedule();
  }

  markAttached(pid) {
    for (const c of this.store.connections.values()) if (c.source === pid || c.destination === pid) this.dirtyGeo.add(c.id);
  }

  renderLabels() {
    this.layerLabels.replaceChildren(...(this.store.labels || []).map((l) => {
      const w = (l.size && l.size.width) || 200;
      const h = (l.size && l.size.height) || 40;
      return s('g', { class: 'flow-label', transform: `translate(${l.position.x},${l.position.y})`, 'data-testid': `label-${l.id}` },
        s('rect', { width: w, height: h, rx: 4 }),
        s('text', { x: 10, y: 22, text: l.text }));
    }));
  }

  applyStatus(msg) {
    const st = this.store;
    // Hidden (culled) components are brought up to date when they come into view.
    for (const x of msg.processors || []) {
      const n = this.pnodes.get(x.id);
      const p = st.processors.get(x.id);
      if (!n || !p) continue;
      if (n.visible === false) n.stale = true;
      else n.updateStatus(p);
    }
    for (const x of msg.connections || []) {
      const n = this.cnodes.get(x.id);
      const c = st.connections.get(x.id);
      if (!n || !c) continue;
      if (n.visible === false) n.stale = true;
      else n.updateStatus(c);
    }
    this.emit('status-rendered', msg);
  }

  schedule() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    requestAnimationFrame(() => this.flush());
  }

  /** Applies pending geometry, lane and unconnected-relationship work. */
  flush() {
    this.flushQueued = false;
    const st = this.store;
    if (this.dirtyLanes.size) {
      const groups = new Map();
      for (const c of st.connections.values()) {
        const k = laneKey(c);
        if (!this.dirtyLanes.has(k)) continue;
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(c.id);
      }
      for (const k of this.dirtyLanes) if (!groups.has(k)) this.lanes.delete(k);
      for (const [k, ids] of groups) {
        ids.sort();
        this.lanes.set(k, ids);
        for (const id of ids) this.dirtyGeo.add(id);
      }
      this.dirtyLanes.clear();
    }
    for (const id of this.dirtyGeo) {
      const c = st.connections.get(id);
      const n = this.cnodes.get(id);
      if (!c || !n) continue;
      const a = this.pnodes.get(c.source);
      const b = this.pnodes.get(c.destination);
      if (!a || !b) continue;
      const group = this.lanes.get(laneKey(c)) || [id];
      const i = group.indexOf(id);
      const lane = c.source === c.destination ? i : i - (group.length - 1) / 2;
      const src = { x: a.x, y: a.y };
      const dst = c.source === c.destination ? src : { x: b.x, y: b.y };
      n.setGeometry(geometry(src, dst, lane, c.bends));
      const pts = [src.x, src.y, dst.x + PW, dst.y + PH, n.mx, n.my];
      n.bounds = { x0: Math.min(pts[0], pts[2] - PW, pts[4]) - 200, y0: Math.min(pts[1], pts[3] - PH, pts[5]) - 200, x1: Math.max(pts[0] + PW, pts[2], pts[4]) + 200, y1: Math.max(pts[1] + PH, pts[3], pts[5]) + 200 };
      n.visible = undefined;
    }
    if (this.dirtyGeoCount !== undefined) this.dirtyGeoCount = 0;
    this.dirtyGeo.clear();
    this.cull();
    if (this.dirtyUnc.size) {
      const out = new Map();
      for (const c of st.connections.values()) {
        if (!this.dirtyUnc.has(c.source)) continue;
        if (!out.has(c.source)) out.set(c.source, []);
        out.get(c.source).push(c);
      }
      for (const id of this.dirtyUnc) {
        const p = st.processors.get(id);
        const n = this.pnodes.get(id);
        if (p && n) n.setUnconnected(unconnectedRelationships(p, out.get(id) || []));
      }
      this.dirtyUnc.clear();
    }
    this.emit('rendered');
  }

  // ---------------------------------------------------------------- view
  applyView() {
    const { x, y, k } = this.view;
    this.root.setAttribute('transform', `translate(${x},${y}) scale(${k})`);
    // The grid is a composited layer one major cell larger than the view: a pan only
    // moves it (modulo the cell), a zoom repaints it.
    const minor = GRID * k;
    const major = GRID * 8 * k;
    if (this.gridK !== k) {
      this.gridK = k;
      const gs = this.grid.style;
      gs.backgroundSize = minor >= 8 ? `${minor}px ${minor}px, ${major}px ${major}px, ${major}px ${major}px` : `0 0, ${major}px ${major}px, ${major}px ${major}px`;
      gs.inset = `-${Math.ceil(major)}px`;
    }
    const mod = (v) => ((v % major) + major) % major;
    this.grid.style.transform = `translate(${mod(x)}px, ${mod(y)}px)`;
    this.svg.classList.toggle('lod-low', k < 0.45);
    this.svg.classList.toggle('lod-min', k < 0.28);
    this.cull();
    this.emit('view', this.view);
  }

  /**
   * Hides what lies outside the visible area (plus a margin), so that a pan repaints only
   * what can be seen. Cheap: a rectangle test per component, and only changes touch the DOM.
   */
  cull() {
    const r = this.svgRect || (this.svgRect = this.svg.getBoundingClientRect());
    if (!r.width) return;
    // Small flows keep every component in the Tab order; large ones trade that for speed.
    const enabled = this.pnodes.size > 80;
    if (!enabled && !this.culled) return;
    this.culled = enabled;
    const { x, y, k } = this.view;
    const m = enabled ? 120 / k : Infinity;
    const x0 = -x / k - m, y0 = -y / k - m;
    const x1 = (r.width - x) / k + m, y1 = (r.height - y) / k + m;
    for (const n of this.pnodes.values()) {
      const vis = n.x < x1 && n.x + PW > x0 && n.y < y1 && n.y + PH + 30 > y0;
      if (n.visible !== vis) {
        n.visible = vis;
        n.g.style.display = vis ? '' : 'none';
        if (vis && n.stale) { n.stale = false; const p = this.store.processors.get(n.id); if (p) n.updateStatus(p); }
      }
    }
    for (const n of this.cnodes.values()) {
      const b = n.bounds;
      const vis = !b || (b.x0 < x1 && b.x1 > x0 && b.y0 < y1 && b.y1 > y0);
      if (n.visible !== vis) {
        n.visible = vis;
        const d = vis ? '' : 'none';
        n.g.style.display = d;
        n.label.style.display = d;
        if (vis && n.stale) { n.stale = false; const c = this.store.connections.get(n.id); if (c) n.updateStatus(c); }
      }
    }
  }

  setView(x, y, k) {
    this.view = { x, y, k: k ?? this.view.k };
    if (!this.viewQueued) {
      this.viewQueued = true;
      requestAnimationFrame(() => {
        this.viewQueued = false;
        this.applyView();
      });
    }
  }

  /** Pans by screen pixels immediately (used by keyboard and the perf measurement). */
  panBy(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.applyView();
  }

  zoomAt(clientX, clientY, factor) {
    const r = this.svg.getBoundingClientRect();
    const px = clientX - r.left;
    const py = clientY - r.top;
    const k = Math.min(3, Math.max(0.08, this.view.k * factor));
    const f = k / this.view.k;
    this.setView(px - (px - this.view.x) * f, py - (py - this.view.y) * f, k);
  }

  zoomBy(factor) {
    const r = this.svg.getBoundingClientRect();
    this.zoomAt(r.left + r.width / 2, r.top + r.height / 2, factor);
  }

  screenToWorld(clientX, clientY) {
    const r = this.svg.getBoundingClientRect();
    return { x: (clientX - r.left - this.view.x) / this.view.k, y: (clientY - r.top - this.view.y) / this.view.k };
  }

  worldToScreen(x, y) {
    const r = this.svg.getBoundingClientRect();
    return { x: r.left + this.view.x + x * this.view.k, y: r.top + this.view.y + y * this.view.k };
  }

  /** The world point at the centre of the visible canvas. */
  center() {
    const r = this.svg.getBoundingClientRect();
    return this.screenToWorld(r.left + r.width / 2, r.top + r.height / 2);
  }

  bounds(ids) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [id, n] of this.pnodes) {
      if (ids && !ids.has(id)) continue;
      x0 = Math.min(x0, n.x); y0 = Math.min(y0, n.y);
      x1 = Math.max(x1, n.x + PW); y1 = Math.max(y1, n.y + PH + 30);
    }
    if (x0 === Infinity) return null;
    return { x0, y0, x1, y1 };
  }

  fit(ids) {
    const b = this.bounds(ids && ids.size ? ids : null);
    const r = this.svg.getBoundingClientRect();
    if (!b || !r.width) {
      this.setView(40, 40, 1);
      return;
    }
    const pad = 60;
    const k = Math.min(1, Math.max(0.08, Math.min((r.width - pad * 2) / (b.x1 - b.x0), (r.height - pad * 2) / (b.y1 - b.y0))));
    const x = (r.width - (b.x1 - b.x0) * k) / 2 - b.x0 * k;
    const y = (r.height - (b.y1 - b.y0) * k) / 2 - b.y0 * k;
    this.setView(x, y, k);
  }

  centerOn(wx, wy) {
    const r = this.svg.getBoundingClientRect();
    this.setView(r.width / 2 - wx * this.view.k, r.height / 2 - wy * this.view.k);
  }

  // ---------------------------------------------------------------- selection
  select(procIds = [], connIds = [], { add = false } = {}) {
    if (!add) {
      for (const id of this.selP) this.pnodes.get(id)?.setSelected(false);
      for (const id of this.selC) this.cnodes.get(id)?.setSelected(false);
      this.selP.clear();
      this.selC.clear();
    }
    for (const id of procIds) if (this.pnodes.has(id)) { this.selP.add(id); this.pnodes.get(id).setSelected(true); }
    for (const id of connIds) if (this.cnodes.has(id)) { this.selC.add(id); this.cnodes.get(id).setSelected(true); }
    this.emit('selection');
  }

  toggle(kind, id) {
    const set = kind === 'p' ? this.selP : this.selC;
    const node = (kind === 'p' ? this.pnodes : this.cnodes).get(id);
    if (set.has(id)) { set.delete(id); node?.setSelected(false); } else { set.add(id); node?.setSelected(true); }
    this.emit('selection');
  }

  selectAll() {
    this.select([...this.pnodes.keys()], [...this.cnodes.keys()]);
  }

  // ---------------------------------------------------------------- pointer
  bindPointer() {
    const svg = this.svg;
    svg.addEventListener('pointerdown', (e) => this.onDown(e));
    svg.addEventListener('pointermove', (e) => this.onMove(e));
    svg.addEventListener('pointerup', (e) => this.onUp(e));
    svg.addEventListener('pointercancel', () => this.cancelDrag());
    svg.addEventListener('wheel', (e) => {
      e.preventDefault();
      if (e.ctrlKey || !e.shiftKey) this.zoomAt(e.clientX, e.clientY, Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.0015)));
      else this.setView(this.view.x - e.deltaY, this.view.y - e.deltaX);
    }, { passive: false });
    svg.addEventListener('dblclick', (e) => {
      const pg = e.target.closest('.proc');
      const cg = e.target.closest('.conn, .conn-label');
      if (e.target.closest('.svg-btn, .port-out, .proc-badge')) return;
      if (pg) this.emit('open-processor', pg.dataset.id);
      else if (cg) this.emit('open-connection', cg.dataset.id);
      else this.emit('quick-add', { clientX: e.clientX, clientY: e.clientY });
    });
    svg.addEventListener('click', (e) => {
      const btn = e.target.closest('.svg-btn');
      if (btn && btn.dataset.testid?.startsWith('autoterminate-')) {
        this.emit('autoterminate', btn.closest('.proc').dataset.id);
        return;
      }
      const badge = e.target.closest('.proc-badge');
      if (badge) this.emit('show-bulletins', badge.closest('.proc').dataset.id);
    });
    svg.addEventListener('keydown', (e) => {
      const btn = e.target.closest && e.target.closest('.svg-btn');
      if (btn && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        e.stopPropagation();
        this.emit('autoterminate', btn.closest('.proc').dataset.id);
        return;
      }
      const pg = e.target.closest && e.target.closest('.proc');
      const cg = e.target.closest && e.target.closest('.conn, .conn-label');
      if (e.key === 'Enter' && (pg || cg)) {
        e.preventDefault();
        if (pg) this.emit('open-processor', pg.dataset.id);
        else this.emit('open-connection', cg.dataset.id);
      }
    });
    svg.addEventListener('focusin', (e) => {
      if (this.pointerFocus) return;
      const pg = e.target.closest('.proc');
      const cg = e.target.closest('.conn, .conn-label');
      if (pg && !this.selP.has(pg.dataset.id)) this.select([pg.dataset.id]);
      else if (cg && !this.selC.has(cg.dataset.id)) this.select([], [cg.dataset.id]);
    });
  }

  onDown(e) {
    if (e.button !== 0 && e.button !== 1) return;
    this.pointerFocus = true;
    setTimeout(() => { this.pointerFocus = false; }, 0);
    const start = { cx: e.clientX, cy: e.clientY, view: { ...this.view } };
    const t = e.target;
    if (e.button === 1) {
      e.preventDefault();
      this.drag = { kind: 'pan', start };
    } else if (t.closest('.svg-btn, .proc-badge')) {
      return;
    } else if (t.closest('.port-out')) {
      e.preventDefault();
      const id = t.closest('.port-out').dataset.id;
      const n = this.pnodes.get(id);
      const from = { x: n.x + PW, y: n.y + PH / 2 };
      const path = s('path', { class: 'connect-preview', d: '' });
      this.layerOver.append(path);
      this.drag = { kind: 'connect', start, source: id, from, path };
    } else if (t.closest('.proc')) {
      const id = t.closest('.proc').dataset.id;
      const additive = e.shiftKey || e.ctrlKey || e.metaKey;
      let deselectOnClick = false;
      if (additive) this.toggle('p', id);
      else if (!this.selP.has(id)) this.select([id]);
      else deselectOnClick = true;
      const moves = [...this.selP].map((pid) => {
        const n = this.pnodes.get(pid);
        return { id: pid, from: { x: n.x, y: n.y } };
      });
      this.drag = { kind: 'move', start, id, moves, deselectOnClick };
    } else if (t.closest('.conn, .conn-label')) {
      const id = t.closest('.conn, .conn-label').dataset.id;
      if (e.shiftKey || e.ctrlKey || e.metaKey) this.toggle('c', id);
      else this.select([], [id]);
      this.drag = { kind: 'none', start };
    } else {
      e.preventDefault();
      this.wrap.focus({ preventScroll: true });
      this.drag = { kind: e.shiftKey ? 'lasso' : 'pan', start, additive: e.shiftKey };
    }
    this.drag.pointerId = e.pointerId;
    if (this.drag.kind === 'pan' || this.drag.kind === 'lasso' || this.drag.kind === 'connect') this.svg.setPointerCapture(e.pointerId);
  }

  onMove(e) {
    this.lastPointer = { x: e.clientX, y: e.clientY };
    const d = this.drag;
    if (!d) return;
    const dx = e.clientX - d.start.cx;
    const dy = e.clientY - d.start.cy;
    if (!d.moved && Math.hypot(dx, dy) < 3) return;
    if (!d.moved && d.kind === 'move') { try { this.svg.setPointerCapture(d.pointerId); } catch { /* released */ } }
    d.moved = true;
    if (d.kind === 'pan') {
      this.svg.classList.add('panning');
      this.setView(d.start.view.x + dx, d.start.view.y + dy);
    } else if (d.kind === 'move') {
      this.dragging = true;
      const k = this.view.k;
      for (const m of d.moves) {
        let x = m.from.x + dx / k;
        let y = m.from.y + dy / k;
        if (this.snapEnabled && !e.altKey) { x = snap(x); y = snap(y); }
        m.to = { x, y };
        const n = this.pnodes.get(m.id);
        if (n.x !== x || n.y !== y) {
          n.setPosition(x, y);
          this.markAttached(m.id);
        }
      }
      this.schedule();
    } else if (d.kind === 'connect') {
      const w = this.screenToWorld(e.clientX, e.clientY);
      const dxw = Math.max(40, Math.abs(w.x - d.from.x) / 2);
      d.path.setAttribute('d', `M${d.from.x} ${d.from.y} C${d.from.x + dxw} ${d.from.y}, ${w.x - dxw} ${w.y}, ${w.x} ${w.y}`);
      const over = document.elementFromPoint(e.clientX, e.clientY);
      const pg = over && over.closest && over.closest('.proc');
      const target = pg ? pg.dataset.id : null;
      if (d.target !== target) {
        if (d.target) this.pnodes.get(d.target)?.g.classList.remove('drop-target');
        if (target) pg.classList.add('drop-target');
        d.target = target;
      }
    } else if (d.kind === 'lasso') {
      const r = this.svg.getBoundingClientRect();
      const x = Math.min(e.clientX, d.start.cx) - r.left;
      const y = Math.min(e.clientY, d.start.cy) - r.top;
      this.lasso.setAttribute('x', x);
      this.lasso.setAttribute('y', y);
      this.lasso.setAttribute('width', Math.abs(dx));
      this.lasso.setAttribute('height', Math.abs(dy));
      this.lasso.setAttribute('visibility', 'visible');
    }
  }

  onUp(e) {
    const d = this.drag;
    this.drag = null;
    this.dragging = false;
    this.svg.classList.remove('panning');
    if (!d) return;
    if (d.kind === 'pan' && !d.moved) {
      this.select([], []);
      this.emit('background-click');
    } else if (d.kind === 'move') {
      if (d.moved) {
        const moves = d.moves.filter((m) => m.to && (m.to.x !== m.from.x || m.to.y !== m.from.y));
        if (moves.length) this.emit('moved', moves);
      } else if (d.deselectOnClick) {
        this.select([d.id]);
      }
      if (!d.moved) this.emit('clicked-processor', d.id);
    } else if (d.kind === 'connect') {
      d.path.remove();
      if (d.target) this.pnodes.get(d.target)?.g.classList.remove('drop-target');
      if (d.target) this.emit('connect', { source: d.source, destination: d.target, clientX: e.clientX, clientY: e.clientY });
    } else if (d.kind === 'lasso') {
      this.lasso.setAttribute('visibility', 'hidden');
      if (d.moved) {
        const a = this.screenToWorld(Math.min(e.clientX, d.start.cx), Math.min(e.clientY, d.start.cy));
        const b = this.screenToWorld(Math.max(e.clientX, d.start.cx), Math.max(e.clientY, d.start.cy));
        const ps = [];
        for (const [id, n] of this.pnodes) if (n.x < b.x && n.x + PW > a.x && n.y < b.y && n.y + PH > a.y) ps.push(id);
        const cs = [];
        for (const [id, n] of this.cnodes) if (n.mx > a.x && n.mx < b.x && n.my > a.y && n.my < b.y) cs.push(id);
        this.select(ps, cs, { add: d.additive && false });
      }
    } else if (d.kind === 'none' && !d.moved) {
      const cg = e.target.closest && e.target.closest('.conn, .conn-label');
      if (cg) this.emit('clicked-connection', cg.dataset.id);
    }
  }

  cancelDrag() {
    const d = this.drag;
    this.drag = null;
    this.dragging = false;
    if (!d) return;
    if (d.kind === 'connect') d.path.remove();
    if (d.kind === 'move') {
      for (const m of d.moves) {
        this.pnodes.get(m.id)?.setPosition(m.from.x, m.from.y);
        this.markAttached(m.id);
      }
      this.schedule();
    }
    this.lasso.setAttribute('visibility', 'hidden');
  }

  /** Puts processors back where the store says they are (after a failed move). */
  resetPositions(ids) {
    for (const id of ids) {
      const p = this.store.processors.get(id);
      const n = this.pnodes.get(id);
      if (p && n) { n.setPosition(p.position.x, p.position.y); this.markAttached(id); }
    }
    this.schedule();
  }
}

function laneKey(c) {
  return c.source < c.destination ? `${c.source}|${c.destination}` : `${c.destination}|${c.source}`;
}
