// Provenance: a search form, a results table (newest first, with older pages), an event's
// details (attributes before and after with changes highlighted, input and output content,
// replay) and the lineage graph of a flowfile.
import { h, clear } from './dom.js';
import { api, enc } from './api.js';
import { button, select, uid } from './forms.js';
import { contentViewer } from './content-viewer.js';
import { renderLineage } from './lineage.js';
import { formatBytes, formatTime, formatMillis, shortId } from './format.js';
import { toast, toastError } from './notify.js';

const TYPES = ['CREATE', 'RECEIVE', 'FETCH', 'SEND', 'DOWNLOAD', 'DROP', 'EXPIRE', 'FORK', 'JOIN', 'CLONE', 'CONTENT_MODIFIED', 'ATTRIBUTES_MODIFIED', 'ROUTE', 'ADDINFO', 'REPLAY', 'UNKNOWN'];

function toLocalInput(ms) {
  const d = new Date(ms - new Date().getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export class ProvenanceView {
  constructor(ctx) {
    this.ctx = ctx;
    this.el = h('section', { class: 'view prov-view', 'data-testid': 'provenance-view', 'aria-label': 'Provenance' });
    this.built = false;
  }

  get title() { return 'Provenance'; }

  build() {
    this.built = true;
    const st = this.ctx.store;
    const f = {};
    const inp = (name, label, attrs = {}) => {
      const id = uid('prov');
      f[name] = h('input', { id, name, 'data-testid': `prov-${name}`, ...attrs });
      return h('div', { class: 'pf' }, h('label', { for: id, text: label }), f[name]);
    };
    const compId = uid('prov');
    this.compSelect = select([{ value: '', label: 'Any component' }], '', { id: compId, 'data-testid': 'prov-component' });
    const typeId = uid('prov');
    f.type = select([{ value: '', label: 'Any type' }, ...TYPES], '', { id: typeId, 'data-testid': 'prov-type' });
    this.fields = f;
    this.form = h('form', { class: 'prov-form', 'aria-label': 'Search provenance events', 'data-testid': 'prov-form' },
      h('div', { class: 'pf' }, h('label', { for: compId, text: 'Component' }), this.compSelect),
      inp('flowfile', 'FlowFile UUID', { type: 'text', placeholder: 'uuid', spellcheck: 'false' }),
      h('div', { class: 'pf' }, h('label', { for: typeId, text: 'Event type' }), f.type),
      inp('attribute', 'Attribute', { type: 'text', placeholder: 'name:value' }),
      inp('since', 'From', { type: 'datetime-local', step: 1 }),
      inp('until', 'To', { type: 'datetime-local', step: 1 }),
      inp('limit', 'Limit', { type: 'number', min: 1, max: 10000, value: 100, class: 'narrow' }),
      h('div', { class: 'pf actions' }, h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'prov-search', text: 'Search' }),
        button('Clear', { onclick: () => { this.form.reset(); this.compSelect.value = ''; } })));
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.search(); });
    this.tbody = h('tbody');
    this.more = button('Older events', { 'data-testid': 'prov-more', onclick: () => this.search(true) });
    this.more.hidden = true;
    this.summary = h('span', { class: 'muted small', 'aria-live': 'polite', 'data-testid': 'prov-summary' });
    this.resultsPane = h('div', { class: 'split-main table-wrap' },
      h('table', { class: 'grid', 'data-testid': 'prov-results' },
        h('caption', { class: 'sr-only', text: 'Provenance events, newest first' }),
        h('thead', null, h('tr', null, ['Time', 'Type', 'Component', 'FlowFile', 'Size', 'Details'].map((t) => h('th', { scope: 'col', text: t })))),
        this.tbody),
      h('div', { class: 'pad' }, this.more));
    this.lineagePane = h('div', { class: 'split-main lineage-wrap', 'data-testid': 'lineage-pane', hidden: true });
    this.detail = h('div', { class: 'split-detail', 'data-testid': 'event-detail' }, h('p', { class: 'muted pad', text: 'Select an event to see what happened to the flowfile.' }));
    this.resultsTab = button('Results', { class: 'seg', 'aria-pressed': 'true', 'data-testid': 'prov-show-results', onclick: () => this.showPane('results') });
    this.lineageTab = button('Lineage', { class: 'seg', 'aria-pressed': 'false', 'data-testid': 'prov-show-lineage', disabled: true, onclick: () => this.showPane('lineage') });
    this.el.append(this.form,
      h('div', { class: 'view-bar' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Show' }, this.resultsTab, this.lineageTab), this.summary),
      h('div', { class: 'split' }, this.resultsPane, this.lineagePane, this.detail));
    st.on('flow', () => this.fillComponents());
    this.fillComponents();
  }

  fillComponents() {
    const cur = this.compSelect.value;
    const procs = [...this.ctx.store.processors.values()].sort((a, b) => a.name.localeCompare(b.name));
    clear(this.compSelect).append(h('option', { value: '', text: 'Any component' }), ...procs.map((p) => h('option', { value: p.id, text: `${p.name} (${p.type})` })));
    this.compSelect.value = cur;
  }

  showPane(which) {
    this.resultsPane.hidden = which !== 'results';
    this.lineagePane.hidden = which !== 'lineage';
    this.resultsTab.setAttribute('aria-pressed', which === 'results' ? 'true' : 'false');
    this.lineageTab.setAttribute('aria-pressed', which === 'lineage' ? 'true' : 'false');
  }

  /** Opens with a query, e.g. { flowfile } or { component }. */
  open(query = {}) {
    if (!this.built) this.build();
    this.fillComponents();
    const f = this.fields;
    if ('flowfile' in query || 'component' in query) {
      this.form.reset();
      this.compSelect.value = query.component || '';
      f.flowfile.value = query.flowfile || '';
    }
    this.showPane('results');
    this.search();
  }

  params() {
    const f = this.fields;
    const q = new URLSearchParams();
    if (f.flowfile.value.trim()) q.set('flowfile', f.flowfile.value.trim());
    if (this.compSelect.value) q.set('component', this.compSelect.value);
    if (f.type.value) q.set('type', f.type.value);
    if (f.attribute.value.trim()) q.set('attribute', f.attribute.value.trim());
    if (f.since.value) q.set('since', String(new Date(f.since.value).getTime()));
    if (f.until.value) q.set('until', String(new Date(f.until.value).getTime()));
    q.set('limit', String(Math.max(1, Number(f.limit.value) || 100)));
    return q;
  }

  async search(older = false) {
    const q = this.params();
    if (older && this.nextBefore != null) q.set('before', String(this.nextBefore));
    if (!older) clear(this.tbody).append(h('tr', null, h('td', { colspan: 6, class: 'muted', text: 'Searching…' })));
    let r;
    try {
      r = await api.get(`/api/provenance?${q}`);
    } catch (e) {
      clear(this.tbody).append(h('tr', null, h('td', { colspan: 6, class: 'error-text', text: `Search failed: ${e.message}` })));
      return;
    }
    if (!older) { clear(this.tbody); this.count = 0; }
    const events = (r && r.events) || [];
    this.count += events.length;
    this.nextBefore = r && r.next_before != null ? r.next_before : null;
    this.more.hidden = this.nextBefore == null;
    this.summary.textContent = `${this.count} event${this.count === 1 ? '' : 's'}${this.nextBefore != null ? ' (more available)' : ''}`;
    if (!this.count) this.tbody.append(h('tr', null, h('td', { colspan: 6, class: 'muted', text: 'No events match.' })));
    for (const ev of events) this.tbody.append(this.row(ev));
  }

  row(ev) {
    const tr = h('tr', { tabindex: 0, class: 'clickable', 'data-testid': `prov-row-${ev.id}`, 'data-event-type': ev.event_type, 'aria-label': `${ev.event_type} at ${ev.component_name}, ${formatTime(ev.timestamp_millis)}` },
      h('td', { class: 'mono small', text: formatTime(ev.timestamp_millis) }),
      h('td', null, h('span', { class: `evt evt-${ev.event_type}`, text: ev.event_type })),
      h('td', { text: ev.component_name || ev.component_id || '' }),
      h('td', { class: 'mono', text: shortId(ev.flowfile_uuid), title: ev.flowfile_uuid }),
      h('td', { class: 'num', text: formatBytes(ev.size) }),
      h('td', { class: 'small', text: [ev.relationship ? `→ ${ev.relationship}` : '', ev.details || ''].filter(Boolean).join(' · ') }));
    const open = () => {
      this.tbody.querySelectorAll('tr.selected').forEach((x) => x.classList.remove('selected'));
      tr.classList.add('selected');
      this.openEvent(ev.id);
    };
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') open();
      else if (e.key === 'ArrowDown') { e.preventDefault(); tr.nextElementSibling?.focus(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); tr.previousElementSibling?.focus(); }
    });
    return tr;
  }

  async openEvent(id) {
    if (!this.built) this.build();
    clear(this.detail).append(h('p', { class: 'muted pad', text: 'Loading event…' }));
    let ev;
    try {
      ev = await api.get(`/api/provenance/events/${enc(id)}`);
    } catch (e) {
      clear(this.detail).append(h('p', { class: 'error-text pad', text: `Could not load event ${id}: ${e.message}` }));
      return;
    }
    const after = ev.updated_attributes || {};
    // No "before" means the event left the attributes as they were, except for events that
    // bring a flowfile into being, whose attributes are all new.
    const creates = ['CREATE', 'RECEIVE', 'JOIN'].includes(ev.event_type ?? ev.type);
    const before = ev.previous_attributes || (creates ? {} : after);
    const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    const changedOnly = h('input', { type: 'checkbox', 'data-testid': 'attrs-changed-only' });
    const rows = names.map((n) => {
      const b = before[n];
      const a = after[n];
      const kind = b === undefined ? 'added' : a === undefined ? 'removed' : a !== b ? 'changed' : 'same';
      return h('tr', { class: `attr-${kind}`, 'data-attr': n, 'data-change': kind },
        h('td', { class: 'mono', text: n }),
        h('td', { class: 'mono wrap', text: b ?? '' }),
        h('td', { class: 'mono wrap', text: a ?? '' }),
        h('td', { class: 'small', text: kind === 'same' ? '' : kind }));
    });
    const tbody = h('tbody', null, rows);
    changedOnly.addEventListener('change', () => rows.forEach((r) => { r.hidden = changedOnly.checked && r.dataset.change === 'same'; }));
    const avail = ev.content_available || { input: !!ev.previous_content, output: !!ev.updated_content };
    const contentBox = h('div', { class: 'event-content' });
    const showContent = (which) => {
      clear(contentBox);
      if (!avail[which]) {
        contentBox.append(h('p', { class: 'muted', text: `No ${which} content for this event (none, or aged out of the content archive).` }));
        return;
      }
      contentBox.append(contentViewer(`/api/provenance/events/${enc(ev.id)}/content/${which}`, { label: `${which} content`, testid: `event-content-${which}` }));
    };
    const inBtn = button('Input content', { class: 'seg', 'data-testid': 'event-input', 'aria-pressed': 'false', onclick: () => { inBtn.setAttribute('aria-pressed', 'true'); outBtn.setAttribute('aria-pressed', 'false'); showContent('input'); } });
    const outBtn = button('Output content', { class: 'seg', 'data-testid': 'event-output', 'aria-pressed': 'false', onclick: () => { outBtn.setAttribute('aria-pressed', 'true'); inBtn.setAttribute('aria-pressed', 'false'); showContent('output'); } });
    const dl = (k, v) => [h('dt', { text: k }), h('dd', { text: v == null || v === '' ? '—' : String(v) })];
    clear(this.detail).append(
      h('div', { class: 'detail-head' },
        h('h3', { class: 'section-title' }, h('span', { class: `evt evt-${ev.event_type}`, 'data-testid': 'event-type', text: ev.event_type }), ` event ${ev.id}`),
        h('span', { class: 'spacer' }),
        button('Lineage', { class: 'btn', 'data-testid': 'event-lineage', onclick: () => this.openLineage(ev.flowfile_uuid) }),
        button('Replay', { class: 'btn', 'data-testid': 'event-replay', onclick: () => this.replay(ev) })),
      h('dl', { class: 'figures event-summary' },
        dl('Time', formatTime(ev.timestamp_millis)), dl('Component', `${ev.component_name || ''} (${ev.component_type || ''})`),
        dl('FlowFile', ev.flowfile_uuid), dl('Size', formatBytes(ev.size)), dl('Duration', ev.duration_millis != null ? formatMillis(ev.duration_millis) : null),
        dl('Relationship', ev.relationship), dl('Details', ev.details), dl('Transit URI', ev.transit_uri),
        dl('Parents', (ev.parent_uuids || []).join(', ')), dl('Children', (ev.child_uuids || []).join(', ')),
        dl('Flow revision', ev.flow_revision)),
      h('div', { class: 'detail-head' }, h('h3', { class: 'section-title', text: 'Attributes' }), h('span', { class: 'spacer' }), h('label', { class: 'check small' }, changedOnly, h('span', { text: 'Only changed' }))),
      h('table', { class: 'grid attrs diff', 'data-testid': 'event-attributes' },
        h('caption', { class: 'sr-only', text: 'Attributes before and after the event' }),
        h('thead', null, h('tr', null, ['Attribute', 'Before', 'After', ''].map((t) => h('th', { scope: 'col', text: t })))), tbody),
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Content' }, inBtn, outBtn),
      contentBox);
    (avail.output ? outBtn : inBtn).click();
  }

  async openLineage(uuid) {
    if (!this.built) this.build();
    this.lineageTab.disabled = false;
    this.showPane('lineage');
    clear(this.lineagePane).append(h('p', { class: 'muted pad', text: 'Loading lineage…' }));
    try {
      const g = await api.get(`/api/provenance/lineage/${enc(uuid)}`);
      renderLineage(this.lineagePane, g, {
        focus: uuid,
        onEvent: (id) => this.openEvent(id),
        onFlowfile: (u) => { this.fields.flowfile.value = u; this.compSelect.value = ''; this.showPane('results'); this.search(); },
      });
    } catch (e) {
      clear(this.lineagePane).append(h('p', { class: 'error-text pad', text: `Could not load lineage: ${e.message}` }));
    }
  }

  async replay(ev) {
    try {
      const r = await api.post(`/api/provenance/events/${enc(ev.id)}/replay`, {});
      toast(`Replayed: new flowfile ${shortId(r && r.flowfile_uuid)} queued`, { kind: 'info' });
    } catch (e) { toastError('Could not replay', e); }
  }
}

export { toLocalInput };
