// A controller service's configuration in the side panel: properties from its type's
// descriptors (the processor panel's editors: descriptions, defaults, allowable values,
// required marks, masked sensitive values), read-only while it is enabled, as in NiFi; the
// processors that reference it; notes; enable, disable and delete. What the server refuses is
// shown in its own words above the form.
import { h, clear } from './dom.js';
import { button, tabs, errorNotice } from './forms.js';
import { MASK } from './history.js';
import { propertyField, placeErrors, visibleWith, requiredCheck } from './properties.js';
import { toast } from './notify.js';
import { serviceStateBadge } from './services-view.js';

export class ServicePanel {
  /** back: { label, run } when it was opened over another panel (a processor's). */
  constructor(ctx, id, { back = null } = {}) {
    this.ctx = ctx; // { store, panel, confirmInline, selectProcessor, services, openServices }
    this.id = id;
    this.kind = 'service';
    this.back = back;
    this.el = h('div', { class: 'panel-body', 'data-testid': 'service-panel' });
    this.error = errorNotice('service-error');
    this.load();
  }

  get s() { return this.ctx.store.services.get(this.id); }
  get desc() { return this.ctx.store.serviceTypes.get(this.s.type) || { properties: [], description: '' }; }
  get enabled() { return this.s.state === 'ENABLED'; }

  load() {
    const s = this.s;
    this.draft = { name: s.name, properties: { ...(s.properties || {}) }, comments: s.comments || '' };
    this.baseRevision = s.revision;
    this.render();
  }

  get dirty() { return Object.keys(this.patch()).length > 0; }

  /** Only what changed against the service as last seen. */
  patch() {
    const s = this.s;
    if (!s) return {};
    const d = this.draft;
    const out = {};
    if (d.name !== s.name) out.name = d.name;
    const props = {};
    for (const k of new Set([...Object.keys(s.properties || {}), ...Object.keys(d.properties)])) {
      const a = (s.properties || {})[k];
      const b = d.properties[k];
      if (b === undefined && a !== undefined) props[k] = null;
      else if (b !== undefined && a !== b) props[k] = b;
    }
    if (Object.keys(props).length) out.properties = props;
    if (d.comments !== (s.comments || '')) out.comments = d.comments;
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
    const s = this.s;
    const el = clear(this.el);
    const d = this.desc;
    const t = tabs([
      { key: 'properties', label: 'Properties' },
      { key: 'references', label: `Referencing processors (${(s.referencing_processors || []).length})` },
      { key: 'comments', label: 'Notes' },
    ]);
    this.tabs = t;
    const nameInput = h('input', { type: 'text', value: this.draft.name, 'data-testid': 'service-name-input', 'aria-label': 'Service name' });
    nameInput.addEventListener('input', () => { this.draft.name = nameInput.value; this.changed(); });
    this.badgeHost = h('span', { class: 'svc-badge-host' });
    el.append(...[
      this.back ? h('div', { class: 'panel-back' }, button(`‹ Back to ${this.back.label}`, { class: 'btn small', 'data-testid': 'panel-back', onclick: () => this.back.run() })) : null,
      h('div', { class: 'panel-head' },
        h('div', { class: 'panel-kind' }, `${s.type} · provides ${s.provides}`),
        nameInput,
        h('div', { class: 'panel-sub' }, this.badgeHost, h('span', { class: 'muted mono', text: ` id ${s.id}` }))),
      d.description ? h('p', { class: 'muted small panel-desc', text: d.description }) : null,
      this.enabled ? h('p', { class: 'lock-note', 'data-testid': 'service-locked-note', role: 'note',
        text: 'Enabled: its properties are read-only while processors may be using it. Disable it to change them.' }) : null,
      this.error].filter(Boolean));
    this.general = h('ul', { class: 'validation-list', 'data-testid': 'validation-errors', 'aria-live': 'polite' });
    el.append(this.general, t.list, ...t.panels);
    this.renderProperties(t.panels[0]);
    this.refsPanel = t.panels[1];
    this.refsTab = t.list.children[1];
    this.renderReferences();
    const ta = h('textarea', { rows: 8, 'aria-label': 'Comments', 'data-testid': 'service-comments' });
    ta.value = this.draft.comments;
    ta.addEventListener('input', () => { this.draft.comments = ta.value; this.changed(); });
    t.panels[2].append(ta);

    this.applyBtn = button('Apply', { class: 'btn primary', 'data-testid': 'panel-apply', title: 'Apply (Ctrl+Enter)', onclick: () => this.apply() });
    this.revertBtn = button('Revert', { 'data-testid': 'panel-revert', onclick: () => { this.error.clear(); this.load(); } });
    this.dirtyNote = h('span', { class: 'dirty-note', 'aria-live': 'polite' });
    const on = this.enabled;
    this.toggleBtn = button(on ? 'Disable' : 'Enable', { class: `btn ${on ? '' : 'run'}`, 'data-testid': on ? 'panel-disable' : 'panel-enable',
      title: on ? 'Disable: processors can no longer use it' : 'Enable: validate it and build its shared client (applies unsaved changes first)',
      onclick: () => this.toggle() });
    this.deleteBtn = button('Delete', { class: 'btn danger', 'data-testid': 'panel-delete', disabled: on, title: on ? 'Disable it before deleting it' : '', onclick: () => this.remove() });
    el.append(h('div', { class: 'panel-foot' }, this.applyBtn, this.revertBtn, this.dirtyNote, h('span', { class: 'spacer' }), this.toggleBtn, this.deleteBtn));
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.apply(); }
    });
    this.refreshLive();
    this.showErrors(s.validation_errors || []);
    this.changed();
  }

  renderProperties(tab) {
    const d = this.desc;
    const props = this.draft.properties;
    this.fields = new Map();
    const visible = visibleWith(d.properties, props);
    const form = h('div', { class: 'form' });
    const hooks = {
      readOnly: this.enabled,
      check: requiredCheck,
      changed: () => {
        for (const row of this.fields.values()) row.hidden = !visible(row.pd);
        this.changed();
      },
      services: this.ctx.services,
    };
    for (const pd of d.properties) {
      const row = propertyField(pd, props, hooks);
      row.pd = pd;
      row.hidden = !visible(pd);
      form.append(row);
      this.fields.set(pd.name, row);
    }
    if (!d.properties.length) form.append(h('p', { class: 'muted', text: 'This type has no properties.' }));
    tab.append(form);
  }

  renderReferences() {
    const s = this.s;
    const st = this.ctx.store;
    const refs = s.referencing_processors || [];
    this.refsTab.textContent = `Referencing processors (${refs.length})`;
    const list = h('ul', { class: 'ref-list', 'data-testid': 'service-references' });
    for (const id of refs) {
      const p = st.processors.get(id);
      list.append(h('li', { 'data-state': p ? p.state.toLowerCase() : '' },
        h('span', { class: 'state-pill', 'data-state': p ? p.state.toLowerCase() : '', text: p ? p.state : '?' }), ' ',
        h('strong', { text: p ? p.name : id }), h('span', { class: 'muted small', text: p ? ` ${p.type}` : '' }), ' ',
        button('Show', { class: 'btn small', 'aria-label': `Show ${p ? p.name : id} on the canvas`, onclick: () => this.ctx.selectProcessor(id) })));
    }
    clear(this.refsPanel).append(
      h('p', { class: 'muted small', text: 'Processors whose properties name this service. It cannot be disabled while one of them runs, nor deleted while any references it.' }),
      refs.length ? list : h('p', { class: 'muted', text: 'No processor references it yet.' }));
  }

  /** Puts each message under the field it names; the rest at the top. */
  showErrors(errors) {
    if (!this.fields) return;
    const general = placeErrors(this.fields, errors);
    clear(this.general);
    for (const m of general) this.general.append(h('li', { text: m }));
    this.general.hidden = general.length === 0;
    this.general.dataset.count = errors.length;
  }

  refreshLive() {
    const s = this.s;
    if (!s) return;
    clear(this.badgeHost).append(serviceStateBadge(s, 'service-panel-state'));
  }

  async apply() {
    const patch = this.patch();
    if (!Object.keys(patch).length) return true;
    patch.revision = this.baseRevision;
    this.applyBtn.disabled = true;
    this.error.clear();
    this.applying = true;
    try {
      await this.ctx.store.patchService(this.id, patch);
      this.applying = false;
      // A saved sensitive value comes back masked: the draft takes the mask, not the secret.
      this.draft.properties = { ...(this.s.properties || {}) };
      this.draft.name = this.s.name;
      this.draft.comments = this.s.comments || '';
      toast(`Applied to ${this.s.name}`, { timeout: 1500 });
      this.reloadKeepingTab();
      return true;
    } catch (e) {
      this.applying = false;
      this.error.show('Could not apply', e);
      this.changed();
      this.onUpdate();
      return false;
    }
  }

  async toggle() {
    const on = this.enabled;
    if (this.dirty && !(await this.apply())) return;
    this.error.clear();
    try {
      await this.ctx.store.setServiceEnabled(this.id, !on);
      toast(`${this.s.name} ${on ? 'disabled' : 'enabled'}`, { timeout: 1500 });
    } catch (e) {
      if (!this.s) return;
      this.error.show(`Could not ${on ? 'disable' : 'enable'} ${this.s.name}`, e);
    }
  }

  remove() {
    const s = this.s;
    const refs = (s.referencing_processors || []).length;
    const text = `Delete controller service “${s.name}”?${refs ? ` ${refs} processor${refs === 1 ? '' : 's'} still reference${refs === 1 ? 's' : ''} it.` : ''} This cannot be undone.`;
    this.error.clear();
    this.ctx.confirmInline(this.deleteBtn, text, 'Delete service', async () => {
      try {
        await this.ctx.store.deleteService(this.id);
        toast(`Deleted ${s.name}`);
      } catch (e) {
        if (this.s) this.error.show(`Could not delete ${s.name}`, e);
      }
    });
  }

  reloadKeepingTab() {
    const tab = this.tabs.current;
    const focused = document.activeElement && this.el.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    this.load();
    this.tabs.activate(this.tabs.keys.indexOf(tab));
    if (focused) this.el.querySelector(`[data-testid="${CSS.escape(focused)}"]:not(:disabled)`)?.focus();
  }

  /** The service changed (our edit, someone else's, enable, disable). */
  onUpdate() {
    const s = this.s;
    if (!s || this.applying) return;
    if (s.revision === this.baseRevision) {
      this.refreshLive();
      this.renderReferences();
      return;
    }
    if (!this.dirty) this.reloadKeepingTab();
    else {
      this.dirtyNote.textContent = 'Changed elsewhere meanwhile: Revert to see it, or Apply to overwrite';
      this.refreshLive();
      this.renderReferences();
    }
  }

  /** A status tick: referencing processors' states. */
  onStatus() {
    if (this.tabs && this.tabs.current === 'references') this.renderReferences();
  }

  onServices() {
    if (!this.fields) return;
    for (const row of this.fields.values()) row.refreshServices && row.refreshServices();
  }

  get title() { return this.s ? this.s.name : ''; }
}
