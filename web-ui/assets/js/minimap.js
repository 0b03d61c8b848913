// The minimap: every processor as a box on a small <canvas>, the visible area as a frame.
// Click or drag on it to move the view.
import { PW, PH } from './render-processor.js';

export class Minimap {
  constructor(el, canvas, store) {
    this.el = el;
    this.canvas = canvas;
    this.store = store;
    this.ctx = el.getContext('2d');
    this.queued = false;
    canvas.on('view', () => this.schedule());
    canvas.on('rendered', () => this.schedule());
    canvas.on('selection', () => this.schedule());
    store.on('status', () => { if (Date.now() - (this.lastDraw || 0) > 1000) this.schedule(); });
    window.addEventListener('themechange', () => { this.col = null; this.schedule(); });
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { this.col = null; this.schedule(); });
    const go = (e) => {
      if (!this.map) return;
      const r = el.getBoundingClientRect();
      const wx = (e.clientX - r.left - this.map.ox) / this.map.s;
      const wy = (e.clientY - r.top - this.map.oy) / this.map.s;
      this.canvas.centerOn(wx, wy);
    };
    el.addEventListener('pointerdown', (e) => {
      el.setPointerCapture(e.pointerId);
      this.down = true;
      go(e);
    });
    el.addEventListener('pointermove', (e) => { if (this.down) go(e); });
    el.addEventListener('pointerup', () => { this.down = false; });
    el.addEventListener('keydown', (e) => {
      const step = 80;
      const moves = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
      if (moves[e.key]) {
        e.preventDefault();
        e.stopPropagation();
        this.canvas.panBy(...moves[e.key]);
      }
    });
  }

  /** Redraws soon, at most about 12 times a second (panning must stay cheap). */
  schedule() {
    if (this.queued) return;
    this.queued = true;
    const wait = Math.max(0, 80 - (performance.now() - (this.lastDrawAt || 0)));
    setTimeout(() => requestAnimationFrame(() => {
      this.queued = false;
      this.lastDrawAt = performance.now();
      this.draw();
    }), wait);
  }

  colors() {
    if (this.col && this.colTheme === document.documentElement.dataset.theme) return this.col;
    const css = getComputedStyle(document.documentElement);
    const v = (name, dflt) => css.getPropertyValue(name).trim() || dflt;
    this.colTheme = document.documentElement.dataset.theme;
    this.col = {
      running: v('--run', '#2a9d5c'),
      stopped: v('--stop', '#888'),
      invalid: v('--warn', '#d9a400'),
      disabled: v('--muted', '#999'),
      conn: v('--conn', '#999'),
      frame: v('--accent', '#3b6fd8'),
    };
    return this.col;
  }

  draw() {
    this.lastDraw = Date.now();
    const el = this.el;
    const dpr = window.devicePixelRatio || 1;
    const W = el.clientWidth;
    const H = el.clientHeight;
    if (!W || !H) return;
    if (el.width !== W * dpr) { el.width = W * dpr; el.height = H * dpr; }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const cv = this.canvas;
    const r = cv.svgRect || cv.svg.getBoundingClientRect();
    const vis = { x0: -cv.view.x / cv.view.k, y0: -cv.view.y / cv.view.k };
    vis.x1 = vis.x0 + r.width / cv.view.k;
    vis.y1 = vis.y0 + r.height / cv.view.k;
    const b = cv.bounds() || { ...vis };
    const x0 = Math.min(b.x0, vis.x0), y0 = Math.min(b.y0, vis.y0);
    const x1 = Math.max(b.x1, vis.x1), y1 = Math.max(b.y1, vis.y1);
    const pad = 6;
    const sc = Math.min((W - pad * 2) / (x1 - x0 || 1), (H - pad * 2) / (y1 - y0 || 1));
    const ox = pad - x0 * sc + ((W - pad * 2) - (x1 - x0) * sc) / 2;
    const oy = pad - y0 * sc + ((H - pad * 2) - (y1 - y0) * sc) / 2;
    this.map = { s: sc, ox, oy };
    const col = this.colors();
    ctx.strokeStyle = col.conn;
    ctx.lineWidth = 1;
    ctx.globalAlpha = 0.6;
    ctx.beginPath();
    for (const c of this.store.connections.values()) {
      const a = cv.pnodes.get(c.source);
      const d = cv.pnodes.get(c.destination);
      if (!a || !d) continue;
      ctx.moveTo(ox + (a.x + PW) * sc, oy + (a.y + PH / 2) * sc);
      ctx.lineTo(ox + d.x * sc, oy + (d.y + PH / 2) * sc);
    }
    ctx.stroke();
    ctx.globalAlpha = 1;
    for (const [id, n] of cv.pnodes) {
      const st = n.g.dataset.state || 'stopped';
      ctx.fillStyle = col[st] || col.stopped;
      if (cv.selP.has(id)) ctx.fillStyle = col.frame;
      ctx.fillRect(ox + n.x * sc, oy + n.y * sc, Math.max(2, PW * sc), Math.max(1.5, PH * sc));
    }
    ctx.strokeStyle = col.frame;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(ox + vis.x0 * sc, oy + vis.y0 * sc, (vis.x1 - vis.x0) * sc, (vis.y1 - vis.y0) * sc);
  }
}
