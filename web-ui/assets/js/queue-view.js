// The flowfiles queued in a connection, page by page (any offset), with attributes and a
// content viewer; empty the queue; jump to a flowfile's provenance.
import { h, clear } from './dom.js';
import { api, enc } from './api.js';
import { button, select } from './forms.js';
import { contentViewer } from './content-viewer.js';
import { formatBytes, formatCount, formatMillis, shortId } from './format.js';
import { toast, toastError } from './notify.js';

export class QueueView {
  constructor(ctx) {
    this.ctx = ctx; // { store, openProvenance, confirmInline }
    this.el = h('section', { class: 'view queue-view', 'data-testid': 'queue-view', 'aria-label': 'Queue listing' });
    this.connId = null;
    this.offset = 0;
    this.limit = 100;
  }

  open(connId) {
    this.connId = connId;
    this.offset = 0;
    this.selected = null;
    this.render();
    this.load();
  }

  get title() {
    const c = this.ctx.store.connections.get(this.connId);
    if (!c) return 'Queue';
    const s = this.ctx.store.processors.get(c.source);
    return `Queue: ${s ? s.name : ''} → ${(c.relationships || []).join(', ')}`;
  }

  render() {
    const st = this.ctx.store;
    const c = st.connections.get(this.connId);
    const el = clear(this.el);
    if (!c) {
      el.append(h('p', { class: 'muted pad', text: 'Choose a connection (double-click it, then “List queue”).' }));
      return;
    }
    const src = st.processors.get(c.source);
    const dst = st.processors.get(c.destination);
    this.totalEl = h('strong', { 'data-testid': 'queue-total' });
    this.pageEl = h('span', { class: 'muted', 'data-testid': 'queue-page' });
    this.prev = button('‹ Previous', { 'data-testid': 'queue-prev', onclick: () => { this.offset = Math.max(0, this.offset - this.limit); this.load(); } });
    this.next = button('Next ›', { 'data-testid': 'queue-next', onclick: () => { this.offset += this.limit; this.load(); } });
    const size = select(['25', '50', '100', '250', '500'], String(this.limit), { 'aria-label': 'Flowfiles per page', 'data-testid': 'queue-page-size' });
    size.addEventListener('change', () => { this.limit = Number(size.value); this.offset = 0; this.load(); });
    const goto = h('input', { type: 'number', min: 1, class: 'narrow', 'aria-label': 'Go to page', placeholder: 'page', 'data-testid': 'queue-goto' });
    goto.addEventListener('change', () => { const n = Math.max(1, Number(goto.value) || 1); this.offset = (n - 1) * this.limit; this.load(); });
    this.emptyBtn = button('Empty queue', { class: 'btn danger', 'data-testid': 'queue-empty', onclick: () => this.empty() });
    this.tbody = h('tbody');
    this.detail = h('div', { class: 'split-detail', 'data-testid': 'flowfile-detail' }, h('p', { class: 'muted pad', text: 'Select a flowfile to see its attributes and content.' }));
    el.append(
      h('div', { class: 'view-bar' },
        h('span', null, h('strong', { text: src ? src.name : c.source }), ` → ${(c.relationships || []).join(', ')} → `, h('strong', { text: dst ? dst.name : c.destination })),
        h('span', null, ' · ', this.totalEl, ' queued'),
        h('span', { class: 'spacer' }),
        button('Refresh', { 'data-testid': 'queue-refresh', onclick: () => this.load() }),
        this.prev, this.pageEl, this.next, size, goto, this.emptyBtn),
      h('div', { class: 'split' },
        h('div', { class: 'split-main table-wrap' },
          h('table', { class: 'grid', 'data-testid': 'queue-table' },
            h('caption', { class: 'sr-only', text: 'Queued flowfiles, first out at the top' }),
            h('thead', null, h('tr', null, ['#', 'UUID', 'Filename', 'Size', 'Queued for', 'Age in flow', ''].map((t) => h('th', { scope: 'col', text: t })))),
            this.tbody)),
        this.detail));
  }

  async load() {
    if (!this.connId) return;
    let r;
    try {
      r = await api.get(`/api/connections/${enc(this.connId)}/queue?offset=${this.offset}&limit=${this.limit}`);
    } catch (e) {
      clear(this.tbody).append(h('tr', null, h('td', { colspan: 7, class: 'error-text', text: `Could not list the queue: ${e.message}` })));
      return;
    }
    const total = r.total || 0;
    const pages = Math.max(1, Math.ceil(total / this.limit));
    if (this.offset >= total && total > 0) {
      this.offset = (pages - 1) * this.limit;
      return this.load();
    }
    this.totalEl.textContent = formatCount(total);
    const page = Math.floor(this.offset / this.limit) + 1;
    this.pageEl.textContent = `Page ${page} of ${pages}`;
    this.prev.disabled = this.offset === 0;
    this.next.disabled = this.offset + this.limit >= total;
    this.emptyBtn.disabled = total === 0;
    clear(this.tbody);
    if (!r.flowfiles.length) this.tbody.append(h('tr', null, h('td', { colspan: 7, class: 'muted', text: 'The queue is empty.' })));
    r.flowfiles.forEach((f, i) => {
      const tr = h('tr', { tabindex: 0, 'data-testid': `queue-row-${f.uuid}`, 'data-uuid': f.uuid, class: 'clickable', 'aria-label': `Flowfile ${f.uuid}` },
        h('td', { class: 'num', text: String((f.position ?? this.offset + i) + 1) }),
        h('td', { class: 'mono', text: shortId(f.uuid), title: f.uuid }),
        h('td', { text: f.attributes.filename || '' }),
        h('td', { class: 'num', text: formatBytes(f.size) }),
        h('td', { class: 'num', text: formatMillis(f.queued_millis) }),
        h('td', { class: 'num', text: formatMillis(f.lineage_millis) }),
        h('td', { text: f.penalized ? 'penalized' : '' }));
      const open = () => this.showFlowfile(f, tr);
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') open();
        else if (e.key === 'ArrowDown') { e.preventDefault(); tr.nextElementSibling?.focus(); }
        else if (e.key === 'ArrowUp') { e.preventDefault(); tr.previousElementSibling?.focus(); }
      });
      if (this.selected === f.uuid) tr.classList.add('selected');
      this.tbody.append(tr);
    });
  }

  showFlowfile(f, tr) {
    this.selected = f.uuid;
    this.tbody.querySelectorAll('tr.selected').forEach((x) => x.classList.remove('selected'));
    tr && tr.classList.add('selected');
    const attrs = Object.entries(f.attributes || {}).sort(([a], [b]) => a.localeCompare(b));
    clear(this.detail).append(
      h('div', { class: 'detail-head' },
        h('h3', { class: 'section-title', text: 'Flowfile' }), h('span', { class: 'mono small', 'data-testid': 'flowfile-uuid', text: f.uuid }),
        h('span', { class: 'spacer' }),
        button('Provenance', { class: 'btn', 'data-testid': 'flowfile-provenance', onclick: () => this.ctx.openProvenance({ flowfile: f.uuid }) })),
      h('table', { class: 'grid attrs', 'data-testid': 'flowfile-attributes' },
        h('caption', { class: 'sr-only', text: 'Attributes' }),
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Attribute' }), h('th', { scope: 'col', text: 'Value' }))),
        h('tbody', null, attrs.map(([k, v]) => h('tr', null, h('td', { class: 'mono', text: k }), h('td', { class: 'mono wrap', text: v }))))),
      h('h3', { class: 'section-title', text: `Content (${formatBytes(f.size)})` }),
      contentViewer(`/api/flowfiles/${enc(f.uuid)}/content`, { label: 'Flowfile content', testid: 'flowfile-content' }));
  }

  empty() {
    this.ctx.confirmInline(this.emptyBtn, 'Drop every flowfile in this queue? This cannot be undone.', 'Empty queue', async () => {
      try {
        const r = await this.ctx.store.emptyQueue(this.connId);
        toast(`Dropped ${formatCount(r && r.dropped)} flowfiles`);
        this.offset = 0;
        this.load();
      } catch (e) { toastError('Could not empty the queue', e); }
    });
  }
}
