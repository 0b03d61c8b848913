// Keyboard shortcuts and the `?` cheat sheet.
import { h } from './dom.js';
import { isTyping } from './dom.js';

export const SHORTCUTS = [
  ['?', 'Show this list'],
  ['/', 'Search the palette'],
  ['Type a letter, N, or double-click the canvas', 'Quick-add a processor at the pointer (type to filter, Enter to add)'],
  ['Ctrl+A', 'Select everything'],
  ['Shift+drag', 'Select with a rectangle'],
  ['Shift/Ctrl+click', 'Add to or remove from the selection'],
  ['Delete / Backspace', 'Delete the selection (asks when queues hold flowfiles)'],
  ['Ctrl+C / Ctrl+V', 'Copy and paste the selected processors and the connections between them'],
  ['Ctrl+D', 'Duplicate the selection'],
  ['Ctrl+Z', 'Undo'],
  ['Ctrl+Shift+Z / Ctrl+Y', 'Redo'],
  ['S', 'Start the selection (or everything when nothing is selected)'],
  ['T', 'Stop the selection (or everything when nothing is selected)'],
  ['Enter', 'Configure the focused processor or connection'],
  ['Arrow keys', 'Move the selection by one grid step (Shift: four); pan when nothing is selected'],
  ['+ / − / 0', 'Zoom in, zoom out, fit the flow'],
  ['F', 'Fit the selection (or the flow)'],
  ['Tab', 'Move between processors, connections and controls'],
  ['Ctrl+Enter', 'Apply the side panel'],
  ['Escape', 'Close the popover, the bottom drawer or the side panel (a service opened from a processor goes back to it), then clear the selection'],
  ['Alt while dragging', 'Place without snapping to the grid'],
];

export function buildHelp() {
  const close = h('button', { type: 'button', class: 'icon-btn', 'aria-label': 'Close keyboard shortcuts', text: '×' });
  const el = h('div', { class: 'help popover', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': 'help-title', 'data-testid': 'help', hidden: true, tabindex: -1 },
    h('div', { class: 'help-head' }, h('h2', { id: 'help-title', text: 'Keyboard shortcuts' }), close),
    h('table', { class: 'grid help-table' }, h('tbody', null, SHORTCUTS.map(([k, v]) => h('tr', null, h('td', null, h('kbd', { text: k })), h('td', { text: v }))))));
  close.addEventListener('click', () => { el.hidden = true; });
  return el;
}

/** Binds the global key handler; `a` holds the actions. */
export function bindShortcuts(a) {
  document.addEventListener('keydown', (e) => {
    const mod = e.ctrlKey || e.metaKey;
    const k = e.key;
    if (k === 'Escape') {
      if (a.escape()) e.preventDefault();
      return;
    }
    if (isTyping(e.target)) return;
    const pop = e.target.closest && e.target.closest('.popover');
    if (pop && !pop.hidden) return;
    const inCanvas = !e.target.closest || !!e.target.closest('#canvas-wrap') || e.target === document.body;
    if (mod && !e.altKey) {
      const lk = k.toLowerCase();
      if (lk === 'z' && !e.shiftKey) { e.preventDefault(); a.undo(); }
      else if ((lk === 'z' && e.shiftKey) || lk === 'y') { e.preventDefault(); a.redo(); }
      else if (lk === 'a' && inCanvas) { e.preventDefault(); a.selectAll(); }
      else if (lk === 'c' && inCanvas) { if (a.copy()) e.preventDefault(); }
      else if (lk === 'v' && inCanvas) { e.preventDefault(); a.paste(); }
      else if (lk === 'd' && inCanvas) { e.preventDefault(); a.duplicate(); }
      return;
    }
    if (e.altKey) return;
    if (k === '?') { e.preventDefault(); a.help(); return; }
    if (k === '/') { e.preventDefault(); a.search(); return; }
    if (!inCanvas) return;
    switch (k) {
      case 'Delete':
      case 'Backspace':
        e.preventDefault();
        a.delete();
        break;
      case 's': case 'S': e.preventDefault(); a.start(); break;
      case 't': case 'T': e.preventDefault(); a.stop(); break;
      case 'n': case 'N': e.preventDefault(); a.quickAdd(''); break;
      case 'f': case 'F': e.preventDefault(); a.fit(true); break;
      case '0': e.preventDefault(); a.fit(false); break;
      case '+': case '=': e.preventDefault(); a.zoom(1.2); break;
      case '-': case '_': e.preventDefault(); a.zoom(1 / 1.2); break;
      case 'ArrowLeft': case 'ArrowRight': case 'ArrowUp': case 'ArrowDown': {
        e.preventDefault();
        const step = e.shiftKey ? 4 : 1;
        const d = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[k];
        a.arrow(d[0] * step, d[1] * step);
        break;
      }
      default:
        // Any other letter over the canvas starts the quick-add box with it.
        if (k.length === 1 && /[a-z]/i.test(k)) {
          e.preventDefault();
          a.quickAdd(k);
        }
    }
  });
}
