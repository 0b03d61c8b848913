// A processor's configuration in the side panel (never a modal): properties generated from
// the type's descriptors and validated as you type by the server, scheduling, relationships,
// status history and comments. Apply makes one undoable edit.
import { h, clear, debounce } from './dom.js';
import { api, enc } from './api.js';
import { field, select, checkbox, button, tabs, validDuration, sparkline, uid } from './forms.js';
import { MASK, patchProcessor, addComponents } from './history.js';
import { EL_HINT, propertyField, placeErrors, visibleWith, requiredCheck } from './properties.js';
import { toast, toastError } from './notify.js';
import { formatCount, formatBytes, formatNanos, formatTime } from './format.js';

export class ProcessorPanel {
  constructor(ctx, id) {
    this.ctx = ctx; // { store, history, canvas, panel, openQueue, openBulletins }
    this.id = id;
    this.kind = 'processor';
    this.el = h('div', { class: 'panel-body', 'data-testid': 'processor-panel' });
    this.validateSoon = debounce(() => this.validate(), 250);
    this.load();
  }

  get p() { return this.ctx.store.processors.get(this.id); }
  get desc() { return this.ctx.store.types.get(this.p.type) || { properties: [], relationships: [] }; }

  load() {
    const p = this.p;
    this.draft = {
      name: p.name,
      properties: { ...(p.properties || {}) },
      scheduling: { ...(p.scheduling || {}) },
      auto_terminated_relationships: [...(p.auto_terminated_relationships || [])],
      retry: p.retry ? { ...p.retry, relationships: [...(p.retry.relationships || [])] } : { relationships: [], attempts: 3, max_backoff: '10 mins' },
      comments: p.comments || '',
    };
    this.baseRevision = p.revision;
    this.render();
  }

  get dirty() { return Object.keys(this.patch()).length > 0; }

  /** Only what changed against the processor as last seen. */
  patch() {
    const p = this.p;
    if (!p) return {};
    const d = this.draft;
    const out = {};
    if (d.name !== p.name) out.name = d.name;
    const props = {};
    const keys = new Set([...Object.keys(p.properties || {}), ...Object.keys(d.properties)]);
    for (const k of keys) {
      const a = (p.properties || {})[k];
      const b = d.properties[k];
      if (b === undefined && a !== undefined) props[k] = null;
      else if (b !== undefined && a !== b) props[k] = b;
    }
    if (Object.keys(props).length) out.properties = props;
    if (JSON.stringify(d.scheduling) !== JSON.stringify(p.scheduling || {})) out.scheduling = { ...d.scheduling };
    const at = [...d.auto_terminated_relationships].sort();
    if (JSON.stringify(at) !== JSON.stringify([...(p.auto_terminated_relationships || [])].sort())) out.auto_terminated_relationships = d.auto_terminated_relationships;
    const retryOn = d.retry.relationships.length > 0;
    const before = p.retry && p.retry.relationships && p.retry.relationships.length ? p.retry : null;
    if (retryOn || before) {
      const now = retryOn ? { relationships: [...d.retry.relationships].sort(), attempts: Number(d.retry.attempts), max_backoff: d.retry.max_backoff } : null;
      const was = before ? { relationships: [...before.relationships].sort(), attempts: before.attempts, max_backoff: before.max_backoff } : null;
      if (JSON.stringify(now) !== JSON.stringify(was)) out.retry = now;
    }
    if (d.comments !== (p.comments || '')) out.comments = d.comments;
    return out;
  }

  changed() {
    const dirty = this.dirty;
    this.applyBtn.disabled = !dirty;
    this.revertBtn.disabled = !dirty;
    this.dirtyNote.textContent = dirty ? 'Unsaved changes' : '';
    this.ctx.panel.setDirty(dirty);
  }

  render() {
    const p = this.p;
    const el = this.el;
    clear(el);
    const t = tabs([
      { key: 'properties', label: 'Properties' },
      { key: 'scheduling', label: 'Scheduling' },
      { key: 'relationships', label: 'Relationships' },
      { key: 'status', label: 'Status' },
      { key: 'comments', label: 'Notes' },
    ], (k) => { if (k === 'status') this.renderStatus(); });
    this.tabs = t;
    const nameInput = h('input', { type: 'text', value: this.draft.name, 'data-testid': 'processor-name-input', 'aria-label': 'Processor name' });
    nameInput.addEventListener('input', () => { this.draft.name = nameInput.value; this.changed(); });
    this.stateBadge = h('span', { class: 'state-pill', 'data-testid': 'panel-state' });
    this.header = h('div', { class: 'panel-head' },
      h('div', { class: 'panel-kind', text: `${p.type}` }),
      nameInput,
      h('div', { class: 'panel-sub' }, this.stateBadge, h('span', { class: 'muted mono', text: ` id ${p.id}` })));
    this.general = h('ul', { class: 'validation-list', 'data-testid': 'validation-errors', 'aria-live': 'polite' });
    el.append(this.header, this.general, t.list, ...t.panels);
    this.renderProperties(t.panels[0]);
    this.renderScheduling(t.panels[1]);
    this.renderRelationships(t.panels[2]);
    this.statusPanel = t.panels[3];
    this.renderComments(t.panels[4]);
    this.applyBtn = button('Apply', { class: 'btn primary', 'data-testid': 'panel-apply', title: 'Apply (Ctrl+Enter)', onclick: () => this.apply() });
    this.revertBtn = button('Revert', { 'data-testid': 'panel-revert', onclick: () => this.load() });
    this.runBtn = button('', { 'data-testid': 'panel-run', onclick: () => this.toggleRun() });
    this.dirtyNote = h('span', { class: 'dirty-note', 'aria-live': 'polite' });
    this.footer = h('div', { class: 'panel-foot' }, this.applyBtn, this.revertBtn, this.dirtyNote, h('span', { class: 'spacer' }), this.runBtn,
      button('Delete', { class: 'btn danger', 'data-testid': 'panel-delete', onclick: () => this.ctx.deleteSelection([this.id], []) }));
    el.append(this.footer);
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.apply(); }
    });
    this.refreshLive();
    this.showErrors(p.validation_errors || []);
    this.changed();
  }

  // ---------------------------------------------------------------- properties
  renderProperties(tab) {
    const d = this.desc;
    const props = this.draft.properties;
    this.fields = new Map();
    const declared = new Set(d.properties.map((x) => x.name));
    const visible = visibleWith(d.properties, props);
    const container = h('div', { class: 'form' });
    for (const pd of d.properties) {
      const row = this.propertyField(pd);
      row.hidden = !visible(pd);
      row.pd = pd;
      container.append(row);
      this.fields.set(pd.name, row);
    }
    this.refreshVisibility = () => { for (const row of this.fields.values()) if (row.pd) row.hidden = !visible(row.pd); };
    tab.append(container);
    if (d.dynamic_properties) {
      const dp = d.dynamic_properties;
      const list = h('div', { class: 'dyn-list', 'data-testid': 'dynamic-properties' });
      const addRow = (name, value, isNew) => {
        const n = h('input', { type: 'text', value: name, placeholder: dp.name_meaning || 'Name', 'aria-label': `Dynamic property name (${dp.name_meaning || 'name'})`, readonly: !isNew, 'data-testid': isNew ? 'dyn-new-name' : null });
        const v = h('input', { type: 'text', value, placeholder: dp.value_meaning || 'Value', 'aria-label': `Value of ${name || 'new property'}`, 'data-testid': `prop-${name || 'new'}` });
        let current = name;
        const sync = () => {
          const nn = n.value.trim();
          if (current && current !== nn) delete props[current];
          current = nn;
          if (nn) props[nn] = v.value;
          this.changed();
          this.validateSoon();
        };
        n.addEventListener('input', sync);
        v.addEventListener('input', sync);
        const rm = button('×', { class: 'icon-btn', 'aria-label': `Remove property ${name || ''}`.trim(), onclick: () => { if (current) delete props[current]; row.remove(); this.changed(); this.validateSoon(); } });
        const row = h('div', { class: 'dyn-row field', 'data-field': name }, n, v, rm);
        const err = h('div', { class: 'field-error', role: 'alert' });
        row.append(err);
        row.setError = (m) => { err.textContent = m || ''; row.classList.toggle('invalid', !!m); };
        if (name) this.fields.set(name, row);
        list.append(row);
        return n;
      };
      for (const [k, v] of Object.entries(props)) if (!declared.has(k)) addRow(k, v, false);
      tab.append(h('div', { class: 'dyn' },
        h('h3', { class: 'section-title' }, 'Dynamic properties', dp.expression_language ? h('span', { class: 'el-badge', 'data-tip': EL_HINT, text: 'EL' }) : null),
        h('p', { class: 'muted small', text: `${dp.name_meaning || 'Name'} → ${dp.value_meaning || 'value'}${dp.creates_relationships ? ' (each one adds a relationship)' : ''}` }),
        list,
        button('+ Add property', { 'data-testid': 'add-dynamic-property', onclick: () => addRow('', '', true).focus() })));
    }
  }

  propertyField(pd) {
    return propertyField(pd, this.draft.properties, {
      check: (d, row, v) => this.localCheck(d, row, v),
      changed: () => {
        this.refreshVisibility && this.refreshVisibility();
        this.changed();
        this.validateSoon();
      },
      services: this.ctx.services,
    });
  }

  /** Controller services came, went or changed state: redraw the reference selects. */
  onServices() {
    if (!this.fields) return;
    for (const row of this.fields.values()) row.refreshServices && row.refreshServices();
  }

  /** Immediate checks the browser can make; the server's word follows. */
  localCheck(pd, row, v) {
    requiredCheck(pd, row, v);
  }

  async validate() {
    const patch = this.patch();
    try {
      const r = await api.post(`/api/processors/${enc(this.id)}/validate`, { properties: patch.properties || {} });
      this.showErrors((r && r.validation_errors) || []);
    } catch (e) {
      if (e.status === 404 && !this.p) return;
      this.showErrors([`Could not validate: ${e.message}`]);
    }
  }

  /** Puts each message under the field it names; the rest at the top. */
  showErrors(errors) {
    if (!this.fields) return;
    const general = placeErrors(this.fields, errors, { generalPattern: /^relationship /i });
    clear(this.general);
    for (const m of general) this.general.append(h('li', { text: m }));
    this.general.hidden = general.length === 0;
    this.general.dataset.count = errors.length;
  }

  // ---------------------------------------------------------------- scheduling
  renderScheduling(tab) {
    const sc = this.draft.scheduling;
    const form = h('div', { class: 'form' });
    const strategy = select([
      { value: 'TIMER_DRIVEN', label: 'Timer driven' },
      { value: 'CRON_DRIVEN', label: 'CRON driven' },
      { value: 'EVENT_DRIVEN', label: 'Event driven' },
    ], sc.strategy || 'TIMER_DRIVEN', { 'data-testid': 'sched-strategy' });
    const period = h('input', { type: 'text', value: sc.period || '', 'data-testid': 'sched-period', spellcheck: 'false' });
    const periodRow = field({ label: 'Run schedule', control: period, desc: '' });
    const setPeriodLabel = () => {
      const cron = strategy.value === 'CRON_DRIVEN';
      periodRow.querySelector('label').firstChild.textContent = cron ? 'Cron expression' : 'Run schedule';
      periodRow.querySelector('.field-desc') && (periodRow.querySelector('.field-desc').textContent = cron
        ? 'Seconds first, as NiFi (Quartz): "0 */5 * * * ?" runs every 5 minutes.'
        : '"0 sec" runs whenever there is work; "1 min" runs once a minute.');
      periodRow.hidden = strategy.value === 'EVENT_DRIVEN';
    };
    periodRow.querySelector('.field-control').after(h('div', { class: 'field-desc', id: `${period.id}-desc` }));
    setPeriodLabel();
    const check = () => {
      if (strategy.value === 'TIMER_DRIVEN') periodRow.setError(validDuration(period.value) ? '' : 'A time period such as "0 sec", "500 ms", "1 min"');
      else if (strategy.value === 'CRON_DRIVEN') periodRow.setError(period.value.trim().split(/\s+/).length >= 6 ? '' : 'A cron expression has 6 or 7 fields, seconds first');
      else periodRow.setError('');
    };
    strategy.addEventListener('change', () => {
      sc.strategy = strategy.value;
      if (sc.strategy === 'CRON_DRIVEN' && validDuration(period.value)) period.value = '0 * * * * ?';
      if (sc.strategy === 'TIMER_DRIVEN' && !validDuration(period.value)) period.value = '0 sec';
      sc.period = period.value;
      setPeriodLabel();
      check();
      this.changed();
    });
    period.addEventListener('input', () => { sc.period = period.value; check(); this.changed(); });
    const num = (key, label, desc, min, max) => {
      const i = h('input', { type: 'number', min, max, value: sc[key], 'data-testid': `sched-${key}` });
      const row = field({ label, control: i, desc });
      i.addEventListener('input', () => {
        sc[key] = Number(i.value);
        row.setError(Number.isInteger(sc[key]) && sc[key] >= min && sc[key] <= max ? '' : `A whole number from ${min} to ${max}`);
        this.changed();
      });
      return row;
    };
    const dur = (key, label, desc) => {
      const i = h('input', { type: 'text', value: sc[key] || '', 'data-testid': `sched-${key}`, spellcheck: 'false' });
      const row = field({ label, control: i, desc });
      i.addEventListener('input', () => { sc[key] = i.value; row.setError(validDuration(i.value) ? '' : 'A time period such as "30 sec"'); this.changed(); });
      return row;
    };
    form.append(
      field({ label: 'Scheduling strategy', control: strategy, desc: 'Timer: every period. CRON: on a schedule. Event: when input arrives.' }),
      periodRow,
      num('concurrent_tasks', 'Concurrent tasks', 'Tasks that may run at once (1-64).', 1, 64),
      dur('penalty', 'Penalty duration', 'How long a penalized flowfile waits.'),
      dur('yield', 'Yield duration', 'How long the processor rests after yielding or failing.'),
      dur('run_duration', 'Run duration', 'How long one task keeps working while there is input (batching); "0 ms" = once.'),
    );
    // Retry
    const r = this.draft.retry;
    const rels = this.p.relationships || [];
    const retryBox = h('div', { class: 'form retry' }, h('h3', { class: 'section-title', text: 'Retry' }),
      h('p', { class: 'muted small', text: 'Flowfiles routed to these relationships go back to the input queue, penalized with a doubling back-off, then route on.' }));
    const relChecks = h('div', { class: 'checks' }, rels.map((name) => {
      const cb = checkbox(name, r.relationships.includes(name), { 'data-testid': `retry-${name}` });
      cb.input.addEventListener('change', () => {
        r.relationships = cb.input.checked ? [...new Set([...r.relationships, name])] : r.relationships.filter((x) => x !== name);
        this.changed();
      });
      return cb;
    }));
    const attempts = h('input', { type: 'number', min: 1, max: 100, value: r.attempts, 'data-testid': 'retry-attempts' });
    attempts.addEventListener('input', () => { r.attempts = Number(attempts.value); this.changed(); });
    const backoff = h('input', { type: 'text', value: r.max_backoff, 'data-testid': 'retry-max-backoff' });
    const backoffRow = field({ label: 'Maximum back-off', control: backoff });
    backoff.addEventListener('input', () => { r.max_backoff = backoff.value; backoffRow.setError(validDuration(backoff.value) ? '' : 'A time period such as "10 mins"'); this.changed(); });
    retryBox.append(h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Retry relationships' }), relChecks),
      field({ label: 'Attempts', control: attempts }), backoffRow);
    this.retryChecks = relChecks;
    tab.append(form, retryBox);
  }

  // ---------------------------------------------------------------- relationships
  renderRelationships(tab) {
    const p = this.p;
    const st = this.ctx.store;
    const d = this.desc;
    const descOf = (n) => (d.relationships.find((r) => r.name === n) || {}).description || (d.dynamic_properties && d.dynamic_properties.creates_relationships ? 'Dynamic route' : '');
    const out = st.outgoing(p.id);
    const list = h('div', { class: 'rel-list' });
    const at = this.draft.auto_terminated_relationships;
    const boxes = [];
    for (const name of p.relationships || []) {
      const conns = out.filter((c) => c.relationships.includes(name));
      const where = conns.length ? `→ ${conns.map((c) => st.processors.get(c.destination)?.name || c.destination).join(', ')}` : 'not connected';
      const cb = checkbox('Auto-terminate', at.includes(name), { 'data-testid': `autoterm-${name}` });
      cb.input.addEventListener('change', () => {
        const set = new Set(this.draft.auto_terminated_relationships);
        if (cb.input.checked) set.add(name); else set.delete(name);
        this.draft.auto_terminated_relationships = [...set];
        this.changed();
      });
      const rt = checkbox('Retry', this.draft.retry.relationships.includes(name), { 'data-testid': `rel-retry-${name}` });
      rt.input.addEventListener('change', () => {
        const r = this.draft.retry;
        r.relationships = rt.input.checked ? [...new Set([...r.relationships, name])] : r.relationships.filter((x) => x !== name);
        const other = this.retryChecks.querySelector(`[data-testid="retry-${CSS.escape(name)}"]`);
        if (other) other.checked = rt.input.checked;
        this.changed();
      });
      boxes.push({ name, cb, conns });
      list.append(h('div', { class: `rel-row ${!conns.length && !at.includes(name) ? 'unconnected' : ''}`, 'data-testid': `rel-${name}` },
        h('div', { class: 'rel-name' }, h('strong', { text: name }), h('span', { class: 'muted small', text: ` ${where}` })),
        h('div', { class: 'muted small', text: descOf(name) }),
        h('div', { class: 'rel-controls' }, cb, rt)));
    }
    const unconnected = boxes.filter((b) => !b.conns.length && !b.cb.input.checked);
    tab.append(list);
    if (unconnected.length) {
      tab.append(button(`Auto-terminate ${unconnected.length} unconnected`, { 'data-testid': 'panel-autoterminate-all', onclick: () => {
        for (const b of unconnected) { b.cb.input.checked = true; b.cb.input.dispatchEvent(new Event('change')); }
      } }));
    }
    // Connect from here by keyboard.
    const others = [...st.processors.values()].filter((x) => x.id !== p.id || true).sort((a, b) => a.name.localeCompare(b.name));
    const firstOther = others.find((x) => x.id !== p.id) || others[0];
    const dest = select(others.map((x) => ({ value: x.id, label: `${x.name} (${x.type})${x.id === p.id ? ' (itself)' : ''}` })), firstOther ? firstOther.id : '', { 'data-testid': 'connect-destination' });
    const relPick = h('div', { class: 'checks' }, (p.relationships || []).map((n) => checkbox(n, !out.some((c) => c.relationships.includes(n)) && !at.includes(n), { 'data-rel': n })));
    const go = button('Connect', { class: 'btn', 'data-testid': 'panel-connect', onclick: async () => {
      const rels = [...relPick.querySelectorAll('input:checked')].map((i) => i.dataset.rel);
      if (!rels.length) return toast('Choose at least one relationship', { kind: 'error' });
      try {
        await this.ctx.history.exec(addComponents(st, 'connect', [], [{ source: p.id, destination: dest.value, relationships: rels }]));
      } catch (e) { toastError('Could not connect', e); }
    } });
    tab.append(h('div', { class: 'connect-form' }, h('h3', { class: 'section-title', text: 'New connection' }),
      field({ label: 'To', control: dest }), h('div', { class: 'field' }, h('span', { class: 'field-label', text: 'Relationships' }), relPick), go));
  }

  // ---------------------------------------------------------------- status
  async renderStatus() {
    const tab = this.statusPanel;
    if (!tab) return;
    if (!this.statusBuilt) {
      this.statusBuilt = true;
      this.spark = h('div', { class: 'spark-wrap', 'data-testid': 'status-sparkline' });
      this.figures = h('dl', { class: 'figures' });
      this.bulletinList = h('ul', { class: 'bulletin-list compact' });
      tab.append(h('h3', { class: 'section-title', text: 'Flowfiles out per second, last 5 minutes' }), this.spark, h('h3', { class: 'section-title', text: 'Last 5 minutes' }), this.figures,
        h('h3', { class: 'section-title' }, 'Bulletins ', button('Show all', { class: 'btn small', onclick: () => this.ctx.openBulletins(this.id) })), this.bulletinList);
    }
    this.refreshLive();
    try {
      const r = await api.get(`/api/processors/${enc(this.id)}/history`);
      const vals = (r && r.flowfiles_out_per_second) || [];
      clear(this.spark).append(sparkline(vals, { label: 'Flowfiles out per second' }),
        h('div', { class: 'muted small', text: vals.length ? `now ${vals[vals.length - 1]}/s · peak ${Math.max(...vals)}/s` : 'no data yet' }));
    } catch (e) {
      clear(this.spark).append(h('div', { class: 'muted small', text: `History unavailable: ${e.message}` }));
    }
    try {
      const r = await api.get(`/api/bulletins?component=${enc(this.id)}&limit=10`);
      clear(this.bulletinList);
      for (const b of (r && r.bulletins) || []) this.bulletinList.append(h('li', { class: `lvl-${(b.level || '').toLowerCase()}` }, h('span', { class: 'muted', text: formatTime(b.timestamp_millis) + ' ' }), h('strong', { text: b.level + ' ' }), b.message));
      if (!this.bulletinList.children.length) this.bulletinList.append(h('li', { class: 'muted', text: 'No bulletins.' }));
    } catch { /* shown elsewhere */ }
  }

  renderComments(tab) {
    const ta = h('textarea', { rows: 8, 'aria-label': 'Comments', 'data-testid': 'processor-comments' });
    ta.value = this.draft.comments;
    ta.addEventListener('input', () => { this.draft.comments = ta.value; this.changed(); });
    tab.append(ta);
  }

  /** Live figures and state (each status tick). */
  refreshLive() {
    const p = this.p;
    if (!p) return;
    const running = p.state === 'RUNNING';
    this.stateBadge.textContent = p.state + ((p.validation_errors || []).length ? ' · invalid' : '');
    this.stateBadge.dataset.state = (p.validation_errors || []).length && !running ? 'invalid' : p.state.toLowerCase();
    this.runBtn.textContent = running ? 'Stop' : 'Start';
    this.runBtn.setAttribute('aria-label', running ? 'Stop this processor' : 'Start this processor');
    if (this.figures) {
      const st = p.status || {};
      clear(this.figures);
      const row = (k, v) => this.figures.append(h('dt', { text: k }), h('dd', { text: v }));
      row('In', `${formatCount(st.flowfiles_in)} (${formatBytes(st.bytes_in)})`);
      row('Out', `${formatCount(st.flowfiles_out)} (${formatBytes(st.bytes_out)})`);
      row('Tasks', `${formatCount(st.tasks)} · ${formatNanos(st.task_nanos)}`);
      row('Active tasks', String(p.active_tasks || 0));
    }
    if (!this.dirty && !this.validating) this.showErrors(p.validation_errors || []);
  }

  onStatus() {
    this.refreshLive();
    if (this.tabs.current === 'status' && Date.now() - (this.lastHist || 0) > 5000) {
      this.lastHist = Date.now();
      this.renderStatus();
    }
  }

  /** The processor changed (our apply, someone else, undo). */
  onUpdate() {
    if (!this.p) return;
    if (!this.dirty) {
      const tab = this.tabs.current;
      const focusedTestid = document.activeElement && this.el.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
      this.statusBuilt = false;
      this.load();
      this.tabs.activate(this.tabs.keys.indexOf(tab));
      if (focusedTestid) this.el.querySelector(`[data-testid="${CSS.escape(focusedTestid)}"]`)?.focus();
    } else if (this.p.revision !== this.baseRevision) {
      this.dirtyNote.textContent = 'Changed elsewhere meanwhile: Revert to see it, or Apply to overwrite';
    } else this.refreshLive();
  }

  async apply() {
    const patch = this.patch();
    if (!Object.keys(patch).length) return;
    if (this.p.revision !== this.baseRevision) patch.revision = this.baseRevision;
    this.applyBtn.disabled = true;
    try {
      const label = patch.properties && Object.keys(patch).length === 1 ? 'change properties' : 'configure processor';
      await this.ctx.history.exec(patchProcessor(this.ctx.store, this.id, patch, label));
      // A saved sensitive value comes back masked: the draft takes the mask, not the secret.
      const masked = Object.keys(patch.properties || {}).filter((k) => this.p && (this.p.properties || {})[k] === MASK);
      for (const k of masked) this.draft.properties[k] = MASK;
      toast(`Applied to ${this.p.name}`, { timeout: 1500 });
      if (masked.length || this.dirty) this.onUpdate();
    } catch (e) {
      toastError('Could not apply', e);
      this.changed();
    }
  }

  async toggleRun() {
    const p = this.p;
    try {
      if (p.state === 'RUNNING') await this.ctx.store.stopProcessor(p.id);
      else await this.ctx.store.startProcessor(p.id);
    } catch (e) { toastError(`Could not ${p.state === 'RUNNING' ? 'stop' : 'start'} ${p.name}`, e); }
  }

  get title() { return this.p ? this.p.name : ''; }
}

export { uid };
