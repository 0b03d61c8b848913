// The palette of processor types: searchable by name, tag and description; drag a type onto
// the canvas (or press Enter on it) to add it at once. Also the quick-add box at the pointer.
import { h, clear, Emitter } from './dom.js';

export function matchTypes(types, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const out = [];
  for (const t of types) {
    const name = t.type.toLowerCase();
    const tags = (t.tags || []).map((x) => x.toLowerCase());
    const desc = (t.description || '').toLowerCase();
    let score = 0;
    let ok = true;
    for (const w of words) {
      if (name.startsWith(w)) score += 10;
      else if (name.includes(w)) score += 6;
      else if (tags.some((x) => x.startsWith(w))) score += 4;
      else if (desc.includes(w)) score += 1;
      else { ok = false; break; }
    }
    if (ok) out.push({ t, score });
  }
  out.sort((a, b) => b.score - a.score || a.t.type.localeCompare(b.t.type));
  return out.map((x) => x.t);
}

export class Palette extends Emitter {
  constructor(el, store) {
    super();
    this.el = el;
    this.store = store;
    this.search = h('input', { type: 'search', class: 'palette-search', placeholder: 'Search processors  /', 'aria-label': 'Search processor types by name, tag or description', 'data-testid': 'palette-search', autocomplete: 'off' });
    this.count = h('div', { class: 'palette-count', 'aria-live': 'polite' });
    this.list = h('ul', { class: 'palette-list', role: 'listbox', 'aria-label': 'Processor types: drag onto the canvas or press Enter to add' });
    el.append(h('div', { class: 'palette-head' }, h('h2', { class: 'section-title', text: 'Processors' }), this.count), this.search, this.list,
      h('p', { class: 'palette-hint', text: 'Drag onto the canvas, or focus and press Enter. Double-click the canvas to add at the pointer.' }));
    this.search.addEventListener('input', () => this.render());
    this.search.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowDown') {
        e.preventDefault();
        this.list.querySelector('li')?.focus();
      } else if (e.key === 'Enter') {
        const first = this.list.querySelector('li');
        if (first) this.emit('add', { type: first.dataset.type });
      } else if (e.key === 'Escape') {
        this.search.value = '';
        this.render();
        this.search.blur();
      }
    });
    store.on('types', () => this.render());
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  render() {
    const types = matchTypes([...this.store.types.values()], this.search.value);
    clear(this.list);
    for (const t of types) {
      const li = h('li', { class: 'palette-item', role: 'option', tabindex: 0, 'data-type': t.type, 'data-testid': `palette-item-${t.type}`, 'aria-label': `${t.type}: ${t.description}` },
        h('div', { class: 'palette-name', text: t.type }),
        h('div', { class: 'palette-desc', text: t.description }),
        (t.tags || []).length ? h('div', { class: 'palette-tags' }, t.tags.slice(0, 5).map((x) => h('span', { class: 'tag', text: x }))) : null);
      li.addEventListener('pointerdown', (e) => this.startDrag(e, t.type, li));
      li.addEventListener('dblclick', () => this.emit('add', { type: t.type }));
      li.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          this.emit('add', { type: t.type });
        } else if (e.key === 'ArrowDown') {
          e.preventDefault();
          li.nextElementSibling?.focus();
        } else if (e.key === 'ArrowUp') {
          e.preventDefault();
          (li.previousElementSibling || this.search).focus();
        }
      });
      this.list.append(li);
    }
    this.count.textContent = `${types.length} of ${this.store.types.size}`;
  }

  startDrag(e, type, li) {
    if (e.button !== 0) return;
    e.preventDefault();
    li.focus();
    li.setPointerCapture(e.pointerId);
    const sx = e.clientX;
    const sy = e.clientY;
    let ghost = null;
    const move = (ev) => {
      if (!ghost && Math.hypot(ev.clientX - sx, ev.clientY - sy) > 4) {
        ghost = h('div', { class: 'drag-ghost', 'aria-hidden': 'true' }, h('strong', { text: type }), h('span', { text: 'Drop on the canvas to add' }));
        document.body.append(ghost);
        document.documentElement.classList.add('dragging-type');
      }
      if (ghost) ghost.style.transform = `translate(${ev.clientX + 8}px, ${ev.clientY + 8}px)`;
    };
    const up = (ev) => {
      li.removeEventListener('pointermove', move);
      li.removeEventListener('pointerup', up);
      li.removeEventListener('pointercancel', up);
      document.documentElement.classList.remove('dragging-type');
      if (!ghost) return;
      ghost.remove();
      const over = document.elementFromPoint(ev.clientX, ev.clientY);
      if (over && over.closest && over.closest('#canvas')) this.emit('drop', { type, clientX: ev.clientX, clientY: ev.clientY });
    };
    li.addEventListener('pointermove', move);
    li.addEventListener('pointerup', up);
    li.addEventListener('pointercancel', up);
  }
}

/** A small search box at the pointer; Enter adds the chosen type there. */
export function openQuickAdd(store, { clientX, clientY, text = '' }, onPick) {
  document.querySelector('.quick-add')?.remove();
  const input = h('input', { type: 'text', class: 'quick-add-input', placeholder: 'Add processor…', 'aria-label': 'Processor type to add here', 'data-testid': 'quick-add-input', autocomplete: 'off', value: text });
  const list = h('ul', { class: 'quick-add-list', role: 'listbox', id: 'quick-add-list' });
  input.setAttribute('aria-controls', 'quick-add-list');
  const box = h('div', { class: 'quick-add popover', role: 'dialog', 'aria-label': 'Quick add processor', 'data-testid': 'quick-add' }, input, list);
  let active = 0;
  let results = [];
  const render = () => {
    results = matchTypes([...store.types.values()], input.value).slice(0, 8);
    active = Math.min(active, Math.max(0, results.length - 1));
    clear(list);
    results.forEach((t, i) => {
      const li = h('li', { role: 'option', 'aria-selected': i === active ? 'true' : 'false', class: i === active ? 'active' : '', 'data-testid': `quick-add-item-${t.type}` },
        h('strong', { text: t.type }), h('span', { text: ' ' + (t.tags || []).slice(0, 3).join(', ') }));
      li.addEventListener('pointerdown', (e) => { e.preventDefault(); pick(t.type); });
      list.append(li);
    });
    if (!results.length) list.append(h('li', { class: 'empty', text: 'No processor type matches' }));
  };
  const close = () => box.remove();
  const pick = (type) => { close(); onPick(type); };
  input.addEventListener('input', () => { active = 0; render(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); active = Math.min(results.length - 1, active + 1); render(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); active = Math.max(0, active - 1); render(); }
    else if (e.key === 'Enter') { e.preventDefault(); if (results[active]) pick(results[active].type); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));
  box.style.left = `${Math.min(clientX, window.innerWidth - 280)}px`;
  box.style.top = `${Math.min(clientY, window.innerHeight - 300)}px`;
  document.body.append(box);
  render();
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}
