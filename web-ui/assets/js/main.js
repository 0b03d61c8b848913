// The editor: wires the store, the live socket, the canvas and every view together.
import { h, clear, isTyping } from './dom.js';
import { api, ApiError } from './api.js';
import { Store } from './store.js';
import { LiveSocket } from './ws.js';
import { Canvas, snap, GRID } from './canvas.js';
import { Minimap } from './minimap.js';
import { Palette, openQuickAdd } from './palette.js';
import { History, addComponents, deleteComponents, moveProcessors, replaceFlow, processorSpec, connectionSpec, MASK } from './history.js';
import { ProcessorPanel } from './panel-processor.js';
import { ConnectionPanel } from './panel-connection.js';
import { ServicePanel } from './panel-service.js';
import { ServicesView, addServiceForm } from './services-view.js';
import { QueueView } from './queue-view.js';
import { ProvenanceView } from './provenance-view.js';
import { BulletinsView } from './bulletins.js';
import { buildHelp, bindShortcuts } from './shortcuts.js';
import { initTheme } from './theme.js';
import { toast, toastError } from './notify.js';
import { formatCount } from './format.js';
import { PW, PH } from './render-processor.js';
import { jsonErrorOffset, lineColumn } from './jsonpos.js';

const $ = (sel) => document.querySelector(sel);
const t0 = performance.now();
const metrics = { startedAt: t0 };

const store = new Store();
const history = new History(store);
const canvas = new Canvas($('#canvas-wrap'), store);
const minimap = new Minimap($('#minimap'), canvas, store);
const palette = new Palette($('#palette'), store);
const ws = new LiveSocket($('#banner'));
window.__sluice = { store, canvas, history, ws, metrics };

// ------------------------------------------------------------------ popovers
function closePopovers() {
  let closed = false;
  document.querySelectorAll('.popover.transient').forEach((p) => { p.remove(); closed = true; });
  return closed;
}

function placePopover(el, x, y) {
  document.body.append(el);
  const r = el.getBoundingClientRect();
  el.style.left = `${Math.max(8, Math.min(x, window.innerWidth - r.width - 8))}px`;
  el.style.top = `${Math.max(8, Math.min(y, window.innerHeight - r.height - 8))}px`;
}

/** A small, non-blocking confirmation next to `anchor`. */
function confirmInline(anchor, text, okLabel, onOk) {
  closePopovers();
  const ok = h('button', { type: 'button', class: 'btn danger', 'data-testid': 'confirm-ok', text: okLabel });
  const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
  const el = h('div', { class: 'popover transient confirm', role: 'alertdialog', 'aria-label': text, 'data-testid': 'confirm-popover' }, h('p', { text }), h('div', { class: 'btn-row' }, ok, cancel));
  ok.addEventListener('click', () => { el.remove(); onOk(); });
  cancel.addEventListener('click', () => { el.remove(); anchor && anchor.focus && anchor.focus(); });
  const r = anchor ? anchor.getBoundingClientRect() : { left: window.innerWidth / 2 - 150, bottom: 120 };
  placePopover(el, r.left, r.bottom + 6);
  ok.focus();
}

// ------------------------------------------------------------------ side panel
const sideEl = $('#side-panel');
const PANEL_TITLES = { processor: 'Configure processor', connection: 'Configure connection', service: 'Configure controller service' };
/** What processor and service panels use to choose, create and open controller services. */
const serviceHooks = {
  list: (apiName) => store.servicesProviding(apiName),
  create: (apiName, anchor, done) => createServicePopover(apiName, anchor, done),
  open: (id) => panel.open('service', id, { over: true }),
};
const panel = {
  current: null,
  dirty: false,
  // Panels opened over another one (a service opened from a processor's property): each
  // keeps its draft and comes back with "Back".
  stack: [],
  setDirty(d) { this.dirty = d; sideEl.classList.toggle('dirty', d); },
  anyDirty() { return this.dirty || this.stack.some((x) => x.dirty); },
  open(kind, id, { over = false } = {}) {
    if (this.current && this.current.id === id && this.current.kind === kind) { sideEl.querySelector('input, select, textarea, button')?.focus(); return; }
    if (over && this.current) {
      this.stack.push({ view: this.current, dirty: this.dirty, focus: document.activeElement && sideEl.contains(document.activeElement) ? document.activeElement.dataset.testid : null });
    } else if (this.current && this.anyDirty()) {
      toast('Apply or revert the changes in the side panel first', { kind: 'error' });
      sideEl.querySelector('[data-testid="panel-apply"]')?.focus();
      return;
    } else this.stack = [];
    const ctx = { store, history, canvas, panel, openQueue, openBulletins, deleteSelection, confirmInline, selectProcessor, services: serviceHooks };
    const under = this.stack.length ? this.stack[this.stack.length - 1].view : null;
    const back = under ? { label: under.title || 'the previous panel', run: () => this.back() } : null;
    this.current = kind === 'processor' ? new ProcessorPanel(ctx, id) : kind === 'service' ? new ServicePanel(ctx, id, { back }) : new ConnectionPanel(ctx, id);
    this.show();
    requestAnimationFrame(() => this.current && this.current.el.querySelector('input:not(:disabled), select:not(:disabled), textarea')?.focus());
  },
  show(dirty = false) {
    this.setDirty(dirty);
    clear($('#side-body')).append(this.current.el);
    $('#side-title').textContent = PANEL_TITLES[this.current.kind] || 'Configure';
    sideEl.hidden = false;
    document.body.classList.add('panel-open');
  },
  /** Back to the panel this one was opened over (its draft intact). */
  back(force = false) {
    if (!this.stack.length) return false;
    if (this.dirty && !force) {
      toast('Apply or revert the changes first', { kind: 'error' });
      sideEl.querySelector('[data-testid="panel-apply"]')?.focus();
      return true;
    }
    const prev = this.stack.pop();
    this.current = prev.view;
    this.show(prev.dirty);
    if (prev.view.onUpdate) prev.view.onUpdate();
    if (prev.view.onServices) prev.view.onServices();
    const f = prev.focus && sideEl.querySelector(`[data-testid="${CSS.escape(prev.focus)}"]`);
    (f || sideEl.querySelector('input, select, textarea'))?.focus();
    return true;
  },
  close(force = false) {
    if (!this.current) return false;
    if (this.anyDirty() && !force) {
      toast('Apply or revert the changes first (or close again to discard them)', { kind: 'error' });
      this.dirty = false;
      this.stack.forEach((x) => { x.dirty = false; });
      return true;
    }
    this.current = null;
    this.stack = [];
    this.dirty = false;
    sideEl.hidden = true;
    sideEl.classList.remove('dirty');
    document.body.classList.remove('panel-open');
    clear($('#side-body'));
    return true;
  },
  /** A component is gone: close its panel (or go back from it), forget it under others. */
  gone(kind, id) {
    this.stack = this.stack.filter((x) => !(x.view.kind === kind && x.view.id === id));
    if (this.current && this.current.kind === kind && this.current.id === id) {
      if (this.stack.length) this.back(true);
      else this.close(true);
    }
  },
};

/** "New…" beside a service property: a popover to add a service providing `apiName`. */
function createServicePopover(apiName, anchor, done) {
  closePopovers();
  const pop = h('div', { class: 'popover transient service-popover', role: 'dialog', 'aria-label': `New ${apiName} service`, 'data-testid': 'service-create-popover' });
  const close = () => { pop.remove(); anchor && anchor.focus && anchor.focus(); };
  const form = addServiceForm(store, {
    apiName,
    onCreated: (v) => {
      pop.remove();
      done(v.id);
      toast(`Added ${v.name} and chose it; “Open” sets it up and enables it (then Apply here).`, { timeout: 5000 });
    },
    onCancel: close,
  });
  pop.append(h('div', { class: 'popover-title' }, h('strong', { text: `New ${apiName} service` })), form);
  const r = anchor.getBoundingClientRect();
  placePopover(pop, r.left - 200, r.bottom + 6);
  form.focusFirst();
}

$('#side-close').addEventListener('click', () => panel.close(true));

store.on('processor:update', (p) => { if (panel.current && panel.current.kind === 'processor' && panel.current.id === p.id) panel.current.onUpdate(); });
store.on('connection:update', (c) => { if (panel.current && panel.current.kind === 'connection' && panel.current.id === c.id) panel.current.onUpdate(); });
store.on('processor:remove', (id) => panel.gone('processor', id));
store.on('connection:remove', (id) => panel.gone('connection', id));
store.on('service:update', (v) => { if (panel.current && panel.current.kind === 'service' && panel.current.id === v.id) panel.current.onUpdate(); });
store.on('service:remove', (id) => panel.gone('service', id));
store.on('services', () => { if (panel.current && panel.current.onServices) panel.current.onServices(); });
store.on('status', () => { if (panel.current) panel.current.onStatus(); });

// ------------------------------------------------------------------ drawer (queue, provenance, bulletins)
const drawerEl = $('#drawer');
const viewCtx = { store, openProvenance, confirmInline, selectProcessor, onUnseen: setUnseen, openService: (id) => panel.open('service', id) };
const views = { queue: new QueueView(viewCtx), provenance: new ProvenanceView(viewCtx), bulletins: new BulletinsView(viewCtx), services: new ServicesView(viewCtx) };
let drawerView = null;
for (const [name, v] of Object.entries(views)) {
  v.el.hidden = true;
  $('#drawer-body').append(v.el);
  $(`#drawer-tab-${name}`).addEventListener('click', () => (name === 'services' ? openServices() : showDrawer(name)));
}
function showDrawer(name) {
  drawerView = name;
  drawerEl.hidden = false;
  document.body.classList.add('drawer-open');
  for (const [n, v] of Object.entries(views)) {
    v.el.hidden = n !== name;
    const tab = $(`#drawer-tab-${n}`);
    tab.setAttribute('aria-selected', n === name ? 'true' : 'false');
    tab.tabIndex = n === name ? 0 : -1;
  }
  $('#drawer-tab-queue').textContent = views.queue.connId ? views.queue.title : 'Queue';
  if (name !== 'bulletins') views.bulletins.hide();
  requestAnimationFrame(() => minimap.schedule());
}
function closeDrawer() {
  if (drawerEl.hidden) return false;
  drawerEl.hidden = true;
  drawerView = null;
  views.bulletins.hide();
  document.body.classList.remove('drawer-open');
  $('#canvas-wrap').focus({ preventScroll: true });
  return true;
}
$('#drawer-close').addEventListener('click', closeDrawer);
$('#drawer-max').addEventListener('click', () => {
  const max = drawerEl.classList.toggle('maximized');
  $('#drawer-max').setAttribute('aria-pressed', max ? 'true' : 'false');
});
$('#drawer-tabs').addEventListener('keydown', (e) => {
  const names = Object.keys(views);
  if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
  const i = names.indexOf(drawerView);
  const n = names[(i + (e.key === 'ArrowRight' ? 1 : -1) + names.length) % names.length];
  if (n === 'provenance') openProvenance({}); else if (n === 'bulletins') openBulletins(); else if (n === 'services') openServices(); else showDrawer(n);
  $(`#drawer-tab-${n}`).focus();
});

function openQueue(connId) {
  views.queue.open(connId);
  showDrawer('queue');
}
function openProvenance(query = {}) {
  views.provenance.open(query);
  showDrawer('provenance');
}
function openBulletins(componentId) {
  showDrawer('bulletins');
  views.bulletins.open(componentId);
}
/** The controller services table (optionally with one service highlighted). */
function openServices(opts = {}) {
  views.services.open(opts);
  showDrawer('services');
}
function setUnseen(n) {
  const b = $('#bulletin-count');
  b.textContent = n ? String(n) : '';
  b.hidden = !n;
}
function selectProcessor(id) {
  const p = store.processors.get(id);
  if (!p) return;
  canvas.select([id]);
  canvas.centerOn(p.position.x + PW / 2, p.position.y + PH / 2);
}

// ------------------------------------------------------------------ toolbar
function selectionIds() { return [...canvas.selP]; }

async function startStop(run) {
  const ids = selectionIds();
  try {
    await store.setRunning(ids.length ? ids : null, run);
  } catch (e) { toastError(`Could not ${run ? 'start' : 'stop'}`, e); }
}

function updateToolbar() {
  const n = canvas.selP.size + canvas.selC.size;
  $('#btn-start').textContent = canvas.selP.size ? `▶ Start (${canvas.selP.size})` : '▶ Start all';
  $('#btn-stop').textContent = canvas.selP.size ? `■ Stop (${canvas.selP.size})` : '■ Stop all';
  $('#btn-start').setAttribute('aria-label', canvas.selP.size ? `Start ${canvas.selP.size} selected processors` : 'Start all processors');
  $('#btn-stop').setAttribute('aria-label', canvas.selP.size ? `Stop ${canvas.selP.size} selected processors` : 'Stop all processors');
  $('#btn-delete').disabled = n === 0;
  $('#btn-copy').disabled = canvas.selP.size === 0;
  $('#btn-undo').disabled = !history.undoStack.length;
  $('#btn-redo').disabled = !history.redoStack.length;
  $('#btn-undo').title = history.undoLabel ? `Undo ${history.undoLabel} (Ctrl+Z)` : 'Nothing to undo';
  $('#btn-redo').title = history.redoLabel ? `Redo ${history.redoLabel} (Ctrl+Shift+Z)` : 'Nothing to redo';
  $('#status-selection').textContent = n ? `${n} selected` : '';
  $('#status-counts').textContent = `${formatCount(store.processors.size)} processors · ${formatCount(store.connections.size)} connections`;
  $('#empty-hint').hidden = store.processors.size > 0;
}
canvas.on('selection', updateToolbar);
history.on('change', updateToolbar);
canvas.on('rendered', updateToolbar);
canvas.on('view', (v) => { $('#zoom-level').textContent = `${Math.round(v.k * 100)}%`; });

$('#btn-start').addEventListener('click', () => startStop(true));
$('#btn-stop').addEventListener('click', () => startStop(false));
$('#btn-undo').addEventListener('click', () => history.undo());
$('#btn-redo').addEventListener('click', () => history.redo());
$('#btn-delete').addEventListener('click', () => deleteSelection(selectionIds(), [...canvas.selC]));
$('#btn-copy').addEventListener('click', () => copy());
$('#btn-paste').addEventListener('click', () => paste());
$('#btn-zoom-in').addEventListener('click', () => canvas.zoomBy(1.2));
$('#btn-zoom-out').addEventListener('click', () => canvas.zoomBy(1 / 1.2));
$('#btn-fit').addEventListener('click', () => canvas.fit());
$('#btn-provenance').addEventListener('click', () => openProvenance({}));
$('#btn-bulletins').addEventListener('click', () => openBulletins());
$('#btn-services').addEventListener('click', () => openServices({ focus: true }));
$('#btn-help').addEventListener('click', () => toggleHelp());
$('#btn-import').addEventListener('click', () => $('#import-file').click());
$('#import-file').addEventListener('change', (e) => importFile(e.target.files[0]));
initTheme($('#btn-theme'));

const help = buildHelp();
document.body.append(help);
help.querySelector('button').addEventListener('click', () => canvas.wrap.focus({ preventScroll: true }));
function toggleHelp() {
  help.hidden = !help.hidden;
  if (!help.hidden) help.querySelector('button').focus();
}

// ------------------------------------------------------------------ canvas events
async function addProcessorAt(type, wx, wy) {
  const t = store.types.get(type);
  const x = snap(wx - PW / 2);
  const y = snap(wy - PH / 2);
  const spec = { type, position: { x, y } };
  if (t && t.default_period) spec.scheduling = undefined;
  try {
    const r = await history.exec(addComponents(store, `add ${type}`, [spec]));
    const id = r.processors[0];
    canvas.select([id]);
    canvas.pnodes.get(id)?.g.focus({ preventScroll: true });
    return id;
  } catch (e) {
    toastError(`Could not add ${type}`, e);
  }
}

palette.on('drop', ({ type, clientX, clientY }) => {
  const w = canvas.screenToWorld(clientX, clientY);
  addProcessorAt(type, w.x, w.y);
});
let stagger = 0;
palette.on('add', ({ type }) => {
  const c = canvas.center();
  stagger = (stagger + 1) % 6;
  addProcessorAt(type, c.x + stagger * GRID * 2, c.y + stagger * GRID * 2);
});
function quickAdd(at, text = '') {
  const p = at || canvas.lastPointer || (() => { const r = canvas.svg.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; })();
  const clientX = at ? at.clientX : p.x;
  const clientY = at ? at.clientY : p.y;
  const w = canvas.screenToWorld(clientX, clientY);
  openQuickAdd(store, { clientX, clientY, text: (at && at.text) || text }, (type) => addProcessorAt(type, w.x, w.y));
}
canvas.on('quick-add', (at) => quickAdd(at));
canvas.on('open-processor', (id) => panel.open('processor', id));
canvas.on('open-connection', (id) => panel.open('connection', id));
canvas.on('clicked-processor', (id) => { if (panel.current && !panel.anyDirty() && canvas.selP.size === 1) panel.open('processor', id); });
canvas.on('clicked-connection', (id) => { if (panel.current && !panel.anyDirty()) panel.open('connection', id); });
canvas.on('show-bulletins', (id) => openBulletins(id));
canvas.on('moved', async (moves) => {
  try {
    await history.exec(moveProcessors(store, moves));
  } catch (e) {
    toastError('Could not move', e);
    canvas.resetPositions(moves.map((m) => m.id));
  }
});
canvas.on('autoterminate', async (id) => {
  const p = store.processors.get(id);
  if (!p) return;
  const out = store.outgoing(id);
  const used = new Set(out.flatMap((c) => c.relationships));
  const rels = (p.relationships || []).filter((r) => !used.has(r) && !(p.auto_terminated_relationships || []).includes(r));
  if (!rels.length) return;
  const set = [...new Set([...(p.auto_terminated_relationships || []), ...rels])];
  try {
    const { patchProcessor } = await import('./history.js');
    await history.exec(patchProcessor(store, id, { auto_terminated_relationships: set }, `auto-terminate ${rels.join(', ')}`));
    toast(`${p.name}: ${rels.join(', ')} auto-terminated`, { timeout: 2000 });
  } catch (e) { toastError('Could not auto-terminate', e); }
});
canvas.on('connect', ({ source, destination, clientX, clientY }) => showConnectPopover(source, destination, clientX, clientY));

function showConnectPopover(source, destination, x, y) {
  closePopovers();
  const src = store.processors.get(source);
  const dst = store.processors.get(destination);
  if (!src || !dst) return;
  const rels = src.relationships || [];
  if (!rels.length) {
    toast(`${src.name} has no relationships to connect`, { kind: 'error' });
    return;
  }
  const used = new Set(store.outgoing(source).flatMap((c) => c.relationships));
  const auto = new Set(src.auto_terminated_relationships || []);
  let defaults = rels.filter((r) => !used.has(r) && !auto.has(r));
  if (!defaults.length) defaults = rels.filter((r) => !used.has(r));
  const boxes = rels.map((r) => {
    const input = h('input', { type: 'checkbox', checked: defaults.includes(r), 'data-testid': `connect-rel-${r}`, 'data-rel': r });
    return h('label', { class: 'check' }, input, h('span', { text: r }), used.has(r) ? h('span', { class: 'muted small', text: ' (already connected)' }) : null);
  });
  const ok = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'connect-confirm', text: 'Connect' });
  const cancel = h('button', { type: 'button', class: 'btn', text: 'Cancel' });
  const form = h('form', { class: 'popover transient connect-popover', role: 'dialog', 'aria-label': `Connect ${src.name} to ${dst.name}`, 'data-testid': 'connect-popover' },
    h('div', { class: 'popover-title' }, h('strong', { text: src.name }), ' → ', h('strong', { text: dst.name })),
    h('fieldset', null, h('legend', { class: 'small muted', text: 'Relationships' }), boxes),
    h('div', { class: 'btn-row' }, ok, cancel));
  const sync = () => { ok.disabled = !form.querySelector('input:checked'); };
  form.addEventListener('change', sync);
  sync();
  cancel.addEventListener('click', () => form.remove());
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); form.remove(); canvas.wrap.focus(); } });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const chosen = [...form.querySelectorAll('input:checked')].map((i) => i.dataset.rel);
    form.remove();
    try {
      const r = await history.exec(addComponents(store, `connect ${chosen.join(', ')}`, [], [{ source, destination, relationships: chosen }]));
      canvas.select([], r.connections);
    } catch (err) { toastError('Could not connect', err); }
  });
  placePopover(form, x + 8, y + 8);
  (form.querySelector('input:checked') || form.querySelector('input')).focus();
}

// ------------------------------------------------------------------ delete, copy, paste
async function deleteSelection(procIds, connIds) {
  if (!procIds.length && !connIds.length) return;
  const affected = new Set(connIds);
  for (const id of procIds) for (const c of store.attached(id)) affected.add(c.id);
  const holding = [...affected].map((id) => store.connections.get(id)).filter((c) => c && c.status && c.status.queued_count > 0);
  const run = async (emptyQueues) => {
    try {
      if (panel.current && (procIds.includes(panel.current.id) || connIds.includes(panel.current.id))) panel.close(true);
      await history.exec(deleteComponents(store, procIds, connIds, { emptyQueues }));
      const n = procIds.length + connIds.length;
      toast(`Deleted ${n} component${n === 1 ? '' : 's'}. Ctrl+Z to undo.`);
      canvas.wrap.focus({ preventScroll: true });
    } catch (e) {
      toastError('Could not delete', e);
      store.loadFlow().catch(() => {});
    }
  };
  if (!holding.length) return run(false);
  const total = holding.reduce((a, c) => a + c.status.queued_count, 0);
  const text = `${holding.length} connection${holding.length === 1 ? '' : 's'} still hold${holding.length === 1 ? 's' : ''} ${formatCount(total)} flowfile${total === 1 ? '' : 's'}. Deleting drops them (undo restores the components, not the flowfiles).`;
  const el = $('#btn-delete');
  confirmInline(el, text, 'Empty queues and delete', () => run(true));
  document.querySelector('[data-testid="confirm-popover"]').setAttribute('data-testid', 'delete-guard');
}

const CLIP_KEY = 'sluice.clipboard';
function copy() {
  const ids = new Set(canvas.selP);
  if (!ids.size) return false;
  const procs = [...ids].map((id) => store.processors.get(id)).filter(Boolean).map((p) => {
    const s = processorSpec(p);
    s.tempId = s.id;
    delete s.id;
    return s;
  });
  const conns = [...store.connections.values()].filter((c) => ids.has(c.source) && ids.has(c.destination)).map((c) => {
    const s = connectionSpec(c);
    delete s.id;
    return s;
  });
  const clip = { processors: procs, connections: conns, pastes: 0 };
  localStorage.setItem(CLIP_KEY, JSON.stringify(clip));
  toast(`Copied ${procs.length} processor${procs.length === 1 ? '' : 's'}${conns.length ? ` and ${conns.length} connection${conns.length === 1 ? '' : 's'}` : ''}`, { timeout: 1500 });
  return true;
}

async function paste() {
  let clip;
  try { clip = JSON.parse(localStorage.getItem(CLIP_KEY) || 'null'); } catch { clip = null; }
  if (!clip || !clip.processors || !clip.processors.length) return toast('Nothing to paste: copy processors first (Ctrl+C)');
  clip.pastes = (clip.pastes || 0) + 1;
  localStorage.setItem(CLIP_KEY, JSON.stringify(clip));
  const minX = Math.min(...clip.processors.map((p) => p.position.x));
  const minY = Math.min(...clip.processors.map((p) => p.position.y));
  let dx = GRID * 3 * clip.pastes;
  let dy = GRID * 3 * clip.pastes;
  const ptr = canvas.lastPointer;
  const r = canvas.svg.getBoundingClientRect();
  if (ptr && ptr.x > r.left && ptr.x < r.right && ptr.y > r.top && ptr.y < r.bottom) {
    const w = canvas.screenToWorld(ptr.x, ptr.y);
    dx = snap(w.x - minX);
    dy = snap(w.y - minY);
  }
  const procs = clip.processors.map((p) => ({ ...p, position: { x: snap(p.position.x + dx), y: snap(p.position.y + dy) } }));
  try {
    const res = await history.exec(addComponents(store, `paste ${procs.length} processor${procs.length === 1 ? '' : 's'}`, procs, clip.connections));
    canvas.select(res.processors, res.connections);
  } catch (e) { toastError('Could not paste', e); }
}

// ------------------------------------------------------------------ import
async function importFile(file) {
  $('#import-file').value = '';
  if (!file) return;
  const text = await file.text();
  let def;
  try {
    def = JSON.parse(text);
  } catch (e) {
    const off = jsonErrorOffset(text);
    let where = '';
    if (off != null) {
      const { line, column } = lineColumn(text, off);
      const ctxLine = text.split('\n')[line - 1] || '';
      where = ` at line ${line}, column ${column} (near “${ctxLine.trim().slice(0, 60)}”)`;
    }
    toast(`${file.name} is not valid JSON${where}.`, { kind: 'error', timeout: 0, details: [e.message] });
    return;
  }
  if (!def || typeof def !== 'object' || Array.isArray(def) || !('version' in def) || !Array.isArray(def.processors)) {
    toast(`${file.name} is not a Sluice flow file: it needs "version" and a "processors" list`, { kind: 'error', timeout: 0 });
    return;
  }
  let before;
  try {
    before = await api.get('/api/flow/export');
  } catch (e) {
    return toastError('Could not read the current flow (needed for undo)', e);
  }
  try {
    await history.exec(replaceFlow(store, before, def));
    toast(`Imported ${file.name}: ${def.processors.length} processors. Ctrl+Z restores the previous flow.`);
    canvas.fit();
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) toastError(`${file.name} was refused`, e).classList.add('sticky');
    else toastError(`Could not import ${file.name}`, e);
  }
}

// ------------------------------------------------------------------ shortcuts
bindShortcuts({
  escape() {
    if (closePopovers()) return true;
    if (!help.hidden) { help.hidden = true; canvas.wrap.focus({ preventScroll: true }); return true; }
    if (document.querySelector('.quick-add')) { document.querySelector('.quick-add').remove(); return true; }
    if (document.activeElement && drawerEl.contains(document.activeElement)) return closeDrawer();
    if (document.activeElement && sideEl.contains(document.activeElement)) {
      if (panel.back()) return true; // a service opened over a processor: back to the processor
      panel.close();
      canvas.wrap.focus();
      return true;
    }
    if (canvas.selP.size || canvas.selC.size) { canvas.select([], []); return true; }
    if (!drawerEl.hidden) return closeDrawer();
    if (panel.current) return panel.close();
    return false;
  },
  undo: () => history.undo(),
  redo: () => history.redo(),
  selectAll: () => canvas.selectAll(),
  copy,
  paste,
  duplicate: () => { if (copy()) paste(); },
  help: toggleHelp,
  search: () => palette.focusSearch(),
  delete: () => deleteSelection(selectionIds(), [...canvas.selC]),
  start: () => startStop(true),
  stop: () => startStop(false),
  quickAdd: (text) => quickAdd(null, text),
  fit: (sel) => canvas.fit(sel ? canvas.selP : null),
  zoom: (f) => canvas.zoomBy(f),
  arrow: (dx, dy) => {
    if (!canvas.selP.size) return canvas.panBy(-dx * GRID * 2, -dy * GRID * 2);
    const moves = [...canvas.selP].map((id) => {
      const p = store.processors.get(id);
      return { id, from: { ...p.position }, to: { x: p.position.x + dx * GRID, y: p.position.y + dy * GRID } };
    });
    for (const m of moves) canvas.pnodes.get(m.id)?.setPosition(m.to.x, m.to.y);
    moves.forEach((m) => canvas.markAttached(m.id));
    canvas.schedule();
    history.exec(moveProcessors(store, moves)).catch((e) => { toastError('Could not move', e); canvas.resetPositions(moves.map((m) => m.id)); });
  },
});

// ------------------------------------------------------------------ tooltip
const tip = $('#tooltip');
let tipTimer = null;
document.addEventListener('pointerover', (e) => {
  const t = e.target.closest && e.target.closest('[data-tip]');
  clearTimeout(tipTimer);
  if (!t) { tip.hidden = true; return; }
  tipTimer = setTimeout(() => {
    tip.textContent = t.getAttribute('data-tip');
    tip.hidden = false;
    const x = Math.min(e.clientX + 12, window.innerWidth - tip.offsetWidth - 8);
    const y = Math.min(e.clientY + 16, window.innerHeight - tip.offsetHeight - 8);
    tip.style.transform = `translate(${x}px, ${y}px)`;
  }, 250);
});
document.addEventListener('pointerdown', () => { clearTimeout(tipTimer); tip.hidden = true; });

// ------------------------------------------------------------------ live updates
const pendingP = new Set();
const pendingC = new Set();
const pendingS = new Set();
let servicesStale = false;
let pendingFull = false;
let pendingTimer = null;
function flushPending() {
  pendingTimer = null;
  if (pendingFull || pendingP.size + pendingC.size > 40) {
    pendingFull = false;
    pendingP.clear();
    pendingC.clear();
    pendingS.clear();
    servicesStale = false;
    store.loadFlow().catch((e) => toastError('Could not reload the flow', e));
    store.loadServices().catch((e) => toastError('Could not reload the controller services', e));
    return;
  }
  for (const id of pendingP) store.refreshProcessor(id).catch(() => {});
  for (const id of pendingC) store.refreshConnection(id).catch(() => {});
  // A processor's change can add or drop a service's reference: re-read them all then.
  if (servicesStale) store.loadServices().catch(() => {});
  else for (const id of pendingS) store.refreshService(id).catch(() => {});
  pendingP.clear();
  pendingC.clear();
  pendingS.clear();
  servicesStale = false;
}
ws.on('flow', (msg) => {
  const ch = msg.change || {};
  if (ch.kind === 'processor' && store.services.size) servicesStale = true;
  if (ch.action === 'removed' && ch.kind === 'processor') store.dropProcessor(ch.id);
  else if (ch.action === 'removed' && ch.kind === 'connection') store.dropConnection(ch.id);
  else if (ch.action === 'removed' && ch.kind === 'controller_service') store.dropService(ch.id);
  else if (ch.kind === 'processor' && ch.id) pendingP.add(ch.id);
  else if (ch.kind === 'connection' && ch.id) pendingC.add(ch.id);
  else if (ch.kind === 'controller_service' && ch.id) pendingS.add(ch.id);
  else if (ch.kind === 'controller_service') servicesStale = true;
  else pendingFull = true;
  if (msg.revision) store.revision = Math.max(store.revision, msg.revision);
  if (!pendingTimer) pendingTimer = setTimeout(flushPending, 30);
});
ws.on('status', (msg) => {
  store.applyStatus(msg);
  metrics.lastStatus = { server: msg.timestamp_millis, shown: Date.now() };
});
ws.on('bulletin', (msg) => views.bulletins.push(msg.bulletin));
ws.on('resync', () => { pendingFull = true; flushPending(); });
ws.on('hello', (msg) => { if (msg.revision != null && msg.revision !== store.revision && metrics.renderMs != null) { pendingFull = true; flushPending(); } });
ws.on('open', async ({ reconnected }) => {
  $('#ws-status').dataset.state = 'live';
  $('#ws-status').textContent = 'Live';
  if (reconnected || metrics.renderMs == null) {
    try {
      await store.loadTypes();
      await store.loadFlow();
      await store.loadServices();
      if (metrics.renderMs == null) {
        metrics.renderMs = performance.now() - t0;
        canvas.fit();
        document.documentElement.dataset.ready = 'true';
      }
    } catch (e) { toastError('Connected, but could not load the flow', e); }
  }
});
ws.on('close', () => {
  $('#ws-status').dataset.state = 'down';
  $('#ws-status').textContent = 'Disconnected';
});

// ------------------------------------------------------------------ start
async function start() {
  try {
    await store.loadTypes();
  } catch (e) {
    toastError('Could not load the processor types', e);
  }
  const tf = performance.now();
  try {
    const flow = await api.get('/api/flow');
    const tb = performance.now();
    store.applyFlow(flow);
    canvas.flush();
    metrics.buildMs = performance.now() - tb;
    metrics.fetchMs = tb - tf;
    if (store.processors.size) canvas.fit();
    canvas.applyView();
    requestAnimationFrame(() => requestAnimationFrame(() => {
      metrics.renderMs = performance.now() - tf;
      metrics.sinceNavigationMs = performance.now();
      document.documentElement.dataset.ready = 'true';
    }));
  } catch (e) {
    toastError('Could not load the flow', e);
    document.documentElement.dataset.ready = 'error';
  }
  store.loadServices().catch((e) => toastError('Could not load the controller services', e));
  updateToolbar();
  ws.connect();
}
start();
void isTyping; void MASK; void t0;
