// Bulletins: recent warnings and errors per component, live from the WebSocket.
import { h, clear } from './dom.js';
import { api, enc } from './api.js';
import { select, button } from './forms.js';
import { formatTime } from './format.js';

export class BulletinsView {
  constructor(ctx) {
    this.ctx = ctx; // { store, selectProcessor, onUnseen }
    this.el = h('section', { class: 'view bulletins-view', 'data-testid': 'bulletins-view', 'aria-label': 'Bulletins' });
    this.items = [];
    this.unseen = 0;
    this.component = '';
    this.level = '';
    this.visible = false;
    this.build();
  }

  get title() { return 'Bulletins'; }

  build() {
    this.levelSel = select([{ value: '', label: 'All levels' }, 'ERROR', 'WARNING', 'INFO'], '', { 'aria-label': 'Level', 'data-testid': 'bulletins-level' });
    this.levelSel.addEventListener('change', () => { this.level = this.levelSel.value; this.draw(); });
    this.compSel = select([{ value: '', label: 'All components' }], '', { 'aria-label': 'Component', 'data-testid': 'bulletins-component' });
    this.compSel.addEventListener('change', () => { this.component = this.compSel.value; this.load(); });
    this.list = h('tbody');
    this.el.append(h('div', { class: 'view-bar' }, this.levelSel, this.compSel, h('span', { class: 'spacer' }), button('Refresh', { onclick: () => this.load() })),
      h('div', { class: 'table-wrap' }, h('table', { class: 'grid', 'data-testid': 'bulletins-table' },
        h('caption', { class: 'sr-only', text: 'Bulletins, newest first' }),
        h('thead', null, h('tr', null, ['Time', 'Level', 'Component', 'Message'].map((t) => h('th', { scope: 'col', text: t })))), this.list)));
  }

  open(componentId = '') {
    this.visible = true;
    this.fillComponents();
    this.component = componentId || '';
    this.compSel.value = this.component;
    this.unseen = 0;
    this.ctx.onUnseen(0);
    this.load();
  }

  hide() { this.visible = false; }

  fillComponents() {
    const procs = [...this.ctx.store.processors.values()].sort((a, b) => a.name.localeCompare(b.name));
    clear(this.compSel).append(h('option', { value: '', text: 'All components' }), ...procs.map((p) => h('option', { value: p.id, text: p.name })));
  }

  async load() {
    try {
      const q = this.component ? `?component=${enc(this.component)}&limit=500` : '?limit=500';
      const r = await api.get(`/api/bulletins${q}`);
      this.items = (r && r.bulletins) || [];
    } catch (e) {
      this.items = [];
      clear(this.list).append(h('tr', null, h('td', { colspan: 4, class: 'error-text', text: `Could not load bulletins: ${e.message}` })));
      return;
    }
    this.draw();
  }

  /** A bulletin from the WebSocket. */
  push(b) {
    if (!b) return;
    if (!this.component || b.component_id === this.component) this.items.unshift(b);
    if (this.items.length > 1000) this.items.length = 1000;
    if (this.visible) this.draw();
    else if (b.level !== 'INFO') {
      this.unseen++;
      this.ctx.onUnseen(this.unseen);
    }
  }

  draw() {
    clear(this.list);
    const rows = this.items.filter((b) => !this.level || b.level === this.level);
    if (!rows.length) this.list.append(h('tr', null, h('td', { colspan: 4, class: 'muted', text: 'No bulletins.' })));
    for (const b of rows.slice(0, 500)) {
      const comp = h('a', { href: '#', text: b.component_name || b.component_id || '', onclick: (e) => { e.preventDefault(); this.ctx.selectProcessor(b.component_id); } });
      this.list.append(h('tr', { class: `lvl-${(b.level || '').toLowerCase()}`, 'data-testid': `bulletin-${b.id}` },
        h('td', { class: 'mono small', text: formatTime(b.timestamp_millis) }),
        h('td', null, h('span', { class: `lvl lvl-${(b.level || '').toLowerCase()}`, text: b.level })),
        h('td', null, comp),
        h('td', { class: 'wrap', text: b.message })));
    }
  }
}
