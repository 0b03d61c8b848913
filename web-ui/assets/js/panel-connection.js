// A connection's settings in the side panel: relationships, back-pressure thresholds,
// prioritizers, expiration; its live queue figures; list or empty the queue.
import { h, clear } from './dom.js';
import { field, select, checkbox, button, validDuration, validDataSize } from './forms.js';
import { patchConnection } from './history.js';
import { toast, toastError } from './notify.js';
import { formatCount, formatBytes } from './format.js';
import { fillRatio, fillLevel } from './render-connection.js';

export const PRIORITIZERS = [
  { value: 'FirstInFirstOutPrioritizer', label: 'First in, first out' },
  { value: 'OldestFlowFileFirstPrioritizer', label: 'Oldest flowfile first' },
  { value: 'NewestFlowFileFirstPrioritizer', label: 'Newest flowfile first' },
  { value: 'PriorityAttributePrioritizer', label: 'Priority attribute (lower first)' },
];

export class ConnectionPanel {
  constructor(ctx, id) {
    this.ctx = ctx;
    this.id = id;
    this.kind = 'connection';
    this.el = h('div', { class: 'panel-body', 'data-testid': 'connection-panel' });
    this.load();
  }

  get c() { return this.ctx.store.connections.get(this.id); }

  load() {
    const c = this.c;
    this.draft = {
      name: c.name || '',
      relationships: [...c.relationships],
      back_pressure_object_threshold: c.back_pressure_object_threshold,
      back_pressure_data_size_threshold: c.back_pressure_data_size_threshold,
      prioritizers: [...(c.prioritizers || [])],
      flowfile_expiration: c.flowfile_expiration || '0 sec',
    };
    this.baseRevision = c.revision;
    this.render();
  }

  patch() {
    const c = this.c;
    if (!c) return {};
    const d = this.draft;
    const out = {};
    if (d.name !== (c.name || '')) out.name = d.name;
    if (JSON.stringify([...d.relationships].sort()) !== JSON.stringify([...c.relationships].sort())) out.relationships = d.relationships;
    if (Number(d.back_pressure_object_threshold) !== c.back_pressure_object_threshold) out.back_pressure_object_threshold = Number(d.back_pressure_object_threshold);
    if (d.back_pressure_data_size_threshold !== c.back_pressure_data_size_threshold) out.back_pressure_data_size_threshold = d.back_pressure_data_size_threshold;
    if (JSON.stringify(d.prioritizers) !== JSON.stringify(c.prioritizers || [])) out.prioritizers = d.prioritizers;
    if (d.flowfile_expiration !== (c.flowfile_expiration || '0 sec')) out.flowfile_expiration = d.flowfile_expiration;
    return out;
  }

  get dirty() { return Object.keys(this.patch()).length > 0; }

  changed() {
    const dirty = this.dirty;
    this.applyBtn.disabled = !dirty;
    this.revertBtn.disabled = !dirty;
    this.dirtyNote.textContent = dirty ? 'Unsaved changes' : '';
    this.ctx.panel.setDirty(dirty);
  }

  render() {
    const c = this.c;
    const st = this.ctx.store;
    const src = st.processors.get(c.source);
    const dst = st.processors.get(c.destination);
    const d = this.draft;
    const el = clear(this.el);
    const name = h('input', { type: 'text', value: d.name, placeholder: '(unnamed)', 'aria-label': 'Connection name', 'data-testid': 'connection-name-input' });
    name.addEventListener('input', () => { d.name = name.value; this.changed(); });
    this.live = h('div', { class: 'queue-live', 'data-testid': 'panel-queue-live' });
    el.append(h('div', { class: 'panel-head' },
      h('div', { class: 'panel-kind', text: 'Connection' }), name,
      h('div', { class: 'panel-sub' }, h('strong', { text: src ? src.name : c.source }), ' → ', h('strong', { text: dst ? dst.name : c.destination }))),
    this.live,
    h('div', { class: 'btn-row' },
      button('List queue', { class: 'btn', 'data-testid': 'panel-list-queue', onclick: () => this.ctx.openQueue(this.id) }),
      this.emptyBtn = button('Empty queue', { class: 'btn', 'data-testid': 'panel-empty-queue', onclick: () => this.emptyQueue() })));
    const form = h('div', { class: 'form' });
    const rels = (src && src.relationships) || c.relationships;
    const relBox = h('div', { class: 'checks' }, rels.map((r) => {
      const cb = checkbox(r, d.relationships.includes(r), { 'data-testid': `conn-rel-${r}` });
      cb.input.addEventListener('change', () => {
        d.relationships = cb.input.checked ? [...new Set([...d.relationships, r])] : d.relationships.filter((x) => x !== r);
        relRow.setError(d.relationships.length ? '' : 'Choose at least one relationship');
        this.changed();
      });
      return cb;
    }));
    const relRow = h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Relationships' }), relBox, h('div', { class: 'field-error', role: 'alert' }));
    relRow.setError = (m) => { relRow.querySelector('.field-error').textContent = m; };
    const obj = h('input', { type: 'number', min: 0, value: d.back_pressure_object_threshold, 'data-testid': 'conn-object-threshold' });
    const objRow = field({ label: 'Back pressure object threshold', control: obj, desc: 'Queue length at which the source stops being scheduled (0 = no limit).' });
    obj.addEventListener('input', () => { d.back_pressure_object_threshold = obj.value; objRow.setError(/^\d+$/.test(obj.value) ? '' : 'A whole number'); this.changed(); });
    const size = h('input', { type: 'text', value: d.back_pressure_data_size_threshold, 'data-testid': 'conn-size-threshold' });
    const sizeRow = field({ label: 'Back pressure data size threshold', control: size, desc: 'Queued bytes at which the source stops, e.g. "1 GB", "10 MB".' });
    size.addEventListener('input', () => { d.back_pressure_data_size_threshold = size.value; sizeRow.setError(validDataSize(size.value) ? '' : 'A size such as "1 GB" or "512 KB"'); this.changed(); });
    const exp = h('input', { type: 'text', value: d.flowfile_expiration, 'data-testid': 'conn-expiration' });
    const expRow = field({ label: 'FlowFile expiration', control: exp, desc: 'Flowfiles older than this are dropped (EXPIRE event); "0 sec" = never.' });
    exp.addEventListener('input', () => { d.flowfile_expiration = exp.value; expRow.setError(validDuration(exp.value) ? '' : 'A time period such as "0 sec" or "1 hour"'); this.changed(); });
    form.append(relRow, objRow, sizeRow, expRow, this.prioritizerEditor());
    el.append(form);
    this.applyBtn = button('Apply', { class: 'btn primary', 'data-testid': 'panel-apply', onclick: () => this.apply() });
    this.revertBtn = button('Revert', { 'data-testid': 'panel-revert', onclick: () => this.load() });
    this.dirtyNote = h('span', { class: 'dirty-note', 'aria-live': 'polite' });
    el.append(h('div', { class: 'panel-foot' }, this.applyBtn, this.revertBtn, this.dirtyNote, h('span', { class: 'spacer' }),
      button('Delete', { class: 'btn danger', 'data-testid': 'panel-delete', onclick: () => this.ctx.deleteSelection([], [this.id]) })));
    el.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.apply(); } });
    this.refreshLive();
    this.changed();
  }

  prioritizerEditor() {
    const d = this.draft;
    const box = h('div', { class: 'field prioritizers' }, h('span', { class: 'field-label', id: 'prio-label', text: 'Prioritizers (in order)' }));
    const list = h('ol', { class: 'prio-list', 'aria-labelledby': 'prio-label' });
    const draw = () => {
      clear(list);
      const active = d.prioritizers;
      const rest = PRIORITIZERS.filter((p) => !active.includes(p.value));
      for (const [i, v] of active.entries()) {
        const label = (PRIORITIZERS.find((p) => p.value === v) || { label: v }).label;
        list.append(h('li', { class: 'prio active' },
          h('span', { text: `${i + 1}. ${label}` }),
          button('↑', { class: 'icon-btn', 'aria-label': `Move ${label} up`, disabled: i === 0, onclick: () => { [active[i - 1], active[i]] = [active[i], active[i - 1]]; draw(); this.changed(); } }),
          button('↓', { class: 'icon-btn', 'aria-label': `Move ${label} down`, disabled: i === active.length - 1, onclick: () => { [active[i + 1], active[i]] = [active[i], active[i + 1]]; draw(); this.changed(); } }),
          button('×', { class: 'icon-btn', 'aria-label': `Remove ${label}`, onclick: () => { active.splice(i, 1); draw(); this.changed(); } })));
      }
      for (const p of rest) {
        list.append(h('li', { class: 'prio' }, h('span', { class: 'muted', text: p.label }),
          button('+ Add', { class: 'btn small', 'aria-label': `Add prioritizer ${p.label}`, 'data-testid': `prio-add-${p.value}`, onclick: () => { active.push(p.value); draw(); this.changed(); } })));
      }
    };
    draw();
    box.append(list);
    return box;
  }

  refreshLive() {
    const c = this.c;
    if (!c) return;
    const st = c.status || {};
    const ratio = fillRatio(c);
    const level = fillLevel(ratio, st.back_pressure);
    clear(this.live).append(
      h('div', { class: 'queue-live-row' },
        h('span', { class: 'big', 'data-testid': 'panel-queue-count', text: formatCount(st.queued_count) }), ' queued ',
        h('span', { class: 'muted', text: `(${formatBytes(st.queued_bytes)})` }),
        st.in_flight ? h('span', { class: 'muted', text: ` · ${formatCount(st.in_flight)} in flight` }) : null),
      h('div', { class: `fill-bar lvl-${level}`, role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(ratio * 100), 'aria-label': 'Back pressure fill' },
        h('div', { class: 'fill', style: { width: `${Math.min(100, ratio * 100)}%` } })),
      h('div', { class: 'muted small', text: st.back_pressure ? 'Back pressure: the source waits until the queue drains.' : `${Math.round(ratio * 100)}% of the nearer threshold` }));
    this.emptyBtn.disabled = !st.queued_count;
  }

  onStatus() { this.refreshLive(); }

  onUpdate() {
    if (!this.c) return;
    if (!this.dirty) this.load();
    else if (this.c.revision !== this.baseRevision) this.dirtyNote.textContent = 'Changed elsewhere meanwhile: Revert to see it';
  }

  async apply() {
    const patch = this.patch();
    if (!Object.keys(patch).length) return;
    if (patch.relationships && !patch.relationships.length) return toast('A connection needs at least one relationship', { kind: 'error' });
    try {
      await this.ctx.history.exec(patchConnection(this.ctx.store, this.id, patch, 'configure connection'));
      toast('Connection updated', { timeout: 1500 });
      if (!this.dirty) this.load();
    } catch (e) {
      toastError('Could not apply', e);
    }
  }

  emptyQueue() {
    this.ctx.confirmInline(this.emptyBtn, `Drop all ${formatCount(this.c.status?.queued_count)} queued flowfiles? This cannot be undone.`, 'Empty queue', async () => {
      try {
        const r = await this.ctx.store.emptyQueue(this.id);
        toast(`Dropped ${formatCount(r && r.dropped)} flowfiles`);
      } catch (e) { toastError('Could not empty the queue', e); }
    });
  }

  get title() { return 'Connection'; }
}
