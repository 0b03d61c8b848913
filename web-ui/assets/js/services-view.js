// Controller services (NiFi's shared clients, e.g. a database pool): the drawer's table of
// every service with its state, validity and users; adding one from the registry of types;
// enabling, disabling and deleting. Configuring one happens in the side panel
// (panel-service.js). The server's refusals (400 invalid, 409 in use) are shown as it words them.
import { h, clear } from './dom.js';
import { button, errorNotice, uid } from './forms.js';
import { toast } from './notify.js';

/** "ENABLED" / "DISABLED" as a badge, with an INVALID mark for a disabled service that cannot be enabled. */
export function serviceStateBadge(s, testid) {
  const on = s.state === 'ENABLED';
  const invalid = !on && (s.validation_errors || []).length > 0;
  return h('span', { class: 'svc-badges' },
    h('span', { class: 'svc-state', 'data-state': on ? 'enabled' : 'disabled', 'data-testid': testid, text: on ? 'ENABLED' : 'DISABLED' }),
    invalid ? h('span', { class: 'svc-invalid', 'data-testid': testid ? `${testid}-invalid` : null, title: s.validation_errors.join('\n'), text: 'INVALID' }) : null);
}

/**
 * The form that adds a service: a type (radio list with descriptions) and a name.
 * opts: { apiName (only types providing it), onCreated(view), onCancel(), idPrefix }
 */
export function addServiceForm(store, { apiName = null, onCreated, onCancel } = {}) {
  const types = store.serviceTypesProviding(apiName);
  const group = uid('svc-type');
  const err = h('div', { class: 'field-error', role: 'alert', 'data-testid': 'service-add-error' });
  const name = h('input', { type: 'text', 'data-testid': 'service-add-name', spellcheck: 'false', placeholder: types[0] ? types[0].type : '' });
  const nameId = uid('svc-name');
  name.id = nameId;
  const options = types.map((t, i) => {
    const id = uid('svc-opt');
    const radio = h('input', { type: 'radio', name: group, value: t.type, id, checked: i === 0, 'data-testid': `service-type-${t.type}`, 'aria-describedby': `${id}-desc` });
    radio.addEventListener('change', () => { name.placeholder = t.type; });
    return h('label', { class: 'svc-type-option', for: id },
      radio,
      h('span', { class: 'svc-type-text' },
        h('strong', { text: t.type }), ' ', h('span', { class: 'tag', text: `provides ${t.provides}` }),
        h('span', { class: 'svc-type-desc', id: `${id}-desc`, text: t.description || '' }),
        t.tags && t.tags.length ? h('span', { class: 'palette-tags' }, t.tags.map((x) => h('span', { class: 'tag', text: x }))) : null));
  });
  const ok = h('button', { type: 'submit', class: 'btn primary', 'data-testid': 'service-add-confirm', text: 'Add service', disabled: !types.length });
  const cancel = button('Cancel', { 'data-testid': 'service-add-cancel', onclick: () => onCancel && onCancel() });
  const form = h('form', { class: 'service-add-form', 'data-testid': 'service-add-form', 'aria-label': apiName ? `New ${apiName} service` : 'Add a controller service' },
    h('fieldset', { class: 'svc-type-list' },
      h('legend', { class: 'field-label', text: apiName ? `Type (providing ${apiName})` : 'Type' }),
      types.length ? options : h('p', { class: 'muted', text: apiName ? `No service type provides ${apiName}.` : 'No controller service types are registered.' })),
    h('div', { class: 'field' }, h('label', { class: 'field-label', for: nameId, text: 'Name' }), name,
      h('div', { class: 'field-desc', text: 'Shown wherever the service is chosen; the type name when left empty.' })),
    err,
    h('div', { class: 'btn-row' }, ok, cancel));
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') { e.stopPropagation(); onCancel && onCancel(); } });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const picked = form.querySelector(`input[name="${group}"]:checked`);
    if (!picked) { err.textContent = 'Choose a type'; return; }
    ok.disabled = true;
    err.textContent = '';
    try {
      const body = { type: picked.value };
      if (name.value.trim()) body.name = name.value.trim();
      const v = await store.createService(body);
      onCreated && onCreated(v);
    } catch (ex) {
      err.textContent = `Could not add the service: ${ex.message}`;
    } finally {
      ok.disabled = !types.length;
    }
  });
  form.focusFirst = () => (form.querySelector('input:checked') || name).focus();
  return form;
}

export class ServicesView {
  constructor(ctx) {
    this.ctx = ctx; // { store, confirmInline, openService, selectProcessor }
    this.el = h('section', { class: 'view services-view', 'data-testid': 'services-view', 'aria-label': 'Controller services' });
    this.highlight = null;
    this.build();
    ctx.store.on('services', () => this.renderRows());
    ctx.store.on('types', () => { this.addBtn.disabled = !ctx.store.serviceTypes.size; });
    // Referencing processors are shown by name: follow renames.
    ctx.store.on('processor:update', (p, old) => { if (old && old.name !== p.name && !this.el.hidden) this.renderRows(); });
  }

  build() {
    const st = this.ctx.store;
    this.count = h('span', { class: 'muted', 'data-testid': 'services-count' });
    this.addBtn = button('+ Add service', { class: 'btn primary', 'data-testid': 'services-add', 'aria-expanded': 'false', onclick: () => this.toggleAdd() });
    this.addBtn.disabled = !st.serviceTypes.size;
    this.addHost = h('div', { class: 'service-add', hidden: true });
    this.error = errorNotice('services-error');
    this.tbody = h('tbody');
    this.el.append(
      h('div', { class: 'view-bar' },
        h('strong', { title: 'Shared clients (a database pool, credentials, a TLS context) that processors choose in their properties', text: 'Controller services' }), this.count,
        h('span', { class: 'spacer' }),
        this.addBtn,
        button('Refresh', { 'data-testid': 'services-refresh', onclick: () => this.reload() })),
      this.addHost,
      this.error,
      h('div', { class: 'table-wrap' },
        h('table', { class: 'grid services', 'data-testid': 'services-table' },
          h('caption', { class: 'sr-only', text: 'Controller services: Enter on a row configures it' }),
          h('thead', null, h('tr', null, ['Service (type, provides)', 'State', 'Validation', 'Referenced by', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
          this.tbody)));
  }

  /** Shows the view, optionally highlighting (and focusing) one service. */
  open({ highlight = null, add = false, focus = false } = {}) {
    if (highlight) this.highlight = highlight;
    this.renderRows();
    this.reload();
    if (add) this.toggleAdd(true);
    else if (focus) {
      requestAnimationFrame(() => (this.tbody.querySelector(`[data-testid="service-row-${CSS.escape(this.highlight || '')}"]`)
        || this.tbody.querySelector('tr[tabindex]') || this.addBtn).focus());
    }
  }

  async reload() {
    try {
      await this.ctx.store.loadServices();
    } catch (e) {
      this.error.show('Could not list the controller services', e);
    }
  }

  toggleAdd(force) {
    const show = force ?? this.addHost.hidden;
    clear(this.addHost);
    this.addHost.hidden = !show;
    this.addBtn.setAttribute('aria-expanded', show ? 'true' : 'false');
    if (!show) { this.addBtn.focus(); return; }
    const form = addServiceForm(this.ctx.store, {
      onCreated: (v) => {
        this.toggleAdd(false);
        this.highlight = v.id;
        this.renderRows();
        toast(`Added ${v.name}: set its properties, then enable it`);
        this.ctx.openService(v.id);
      },
      onCancel: () => this.toggleAdd(false),
    });
    this.addHost.append(form);
    requestAnimationFrame(() => form.focusFirst());
  }

  renderRows() {
    const st = this.ctx.store;
    const list = [...st.services.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
    this.count.textContent = `(${list.length})`;
    const active = document.activeElement && this.tbody.contains(document.activeElement) ? document.activeElement.dataset.testid : null;
    clear(this.tbody);
    if (!list.length) {
      this.tbody.append(h('tr', null, h('td', { colspan: 5, class: 'muted', 'data-testid': 'services-empty',
        text: 'No controller services yet. A controller service is a client shared by processors (a database pool, credentials, a TLS context). “+ Add service” creates one; processors then choose it in a property, such as a SQL processor’s Database Connection Pooling Service.' })));
    }
    for (const s of list) this.tbody.append(this.row(s));
    if (active) this.tbody.querySelector(`[data-testid="${CSS.escape(active)}"]`)?.focus();
  }

  row(s) {
    const st = this.ctx.store;
    const on = s.state === 'ENABLED';
    const errs = s.validation_errors || [];
    const refs = s.referencing_processors || [];
    const refNames = refs.map((id) => ({ id, p: st.processors.get(id) }));
    const configure = () => this.ctx.openService(s.id);
    const toggle = button(on ? 'Disable' : 'Enable', { class: `btn small ${on ? '' : 'run'}`, 'data-testid': `service-${on ? 'disable' : 'enable'}-${s.id}`,
      'aria-label': `${on ? 'Disable' : 'Enable'} ${s.name}`, title: !on && errs.length ? `Cannot be enabled yet:\n${errs.join('\n')}` : '',
      onclick: (e) => { e.stopPropagation(); this.setEnabled(s, !on); } });
    const del = button('Delete', { class: 'btn small danger', 'data-testid': `service-delete-${s.id}`, 'aria-label': `Delete ${s.name}`,
      disabled: on, title: on ? 'Disable it before deleting it' : '',
      onclick: (e) => { e.stopPropagation(); this.remove(s, del); } });
    const tr = h('tr', { class: `clickable${this.highlight === s.id ? ' selected' : ''}`, tabindex: 0, 'data-testid': `service-row-${s.id}`, 'data-state': s.state.toLowerCase(),
      'aria-label': `${s.name}, ${s.type}, ${on ? 'enabled' : 'disabled'}${errs.length ? ', invalid' : ''}` },
      h('td', { class: 'svc-name' }, h('strong', { text: s.name }),
        h('div', { class: 'svc-type' }, h('span', { class: 'mono', 'data-testid': `service-type-of-${s.id}`, text: s.type }), ' ', h('span', { class: 'tag', title: 'The API processors ask for', text: `provides ${s.provides}` })),
        s.comments ? h('div', { class: 'muted small', text: s.comments }) : null),
      h('td', null, serviceStateBadge(s, `service-state-${s.id}`)),
      h('td', { 'data-testid': `service-errors-${s.id}`, 'data-count': errs.length },
        errs.length ? h('ul', { class: 'svc-errors' }, errs.map((m) => h('li', { text: m }))) : h('span', { class: 'muted', text: on ? '—' : 'valid' })),
      h('td', { 'data-testid': `service-refs-${s.id}`, 'data-count': refs.length },
        h('span', { class: 'num-inline', text: String(refs.length) }),
        refNames.length ? h('span', { class: 'svc-refs' }, refNames.map(({ id, p }) => button(p ? p.name : id, {
          class: 'link-btn', title: p ? `${p.type}, ${p.state}: show it on the canvas` : id, 'aria-label': `Show processor ${p ? p.name : id} on the canvas`,
          onclick: (e) => { e.stopPropagation(); this.ctx.selectProcessor(id); } }))) : null),
      h('td', null, h('span', { class: 'btn-row nowrap' },
        button('Configure', { class: 'btn small', 'data-testid': `service-configure-${s.id}`, 'aria-label': `Configure ${s.name}`, onclick: (e) => { e.stopPropagation(); configure(); } }),
        toggle, del)));
    tr.addEventListener('click', () => { this.highlight = s.id; configure(); });
    tr.addEventListener('keydown', (e) => {
      if (e.target !== tr) return;
      if (e.key === 'Enter') { e.preventDefault(); configure(); }
      else if (e.key === 'ArrowDown') { e.preventDefault(); tr.nextElementSibling?.focus(); }
      else if (e.key === 'ArrowUp') { e.preventDefault(); tr.previousElementSibling?.focus(); }
    });
    return tr;
  }

  async setEnabled(s, on) {
    this.error.clear();
    try {
      const v = await this.ctx.store.setServiceEnabled(s.id, on);
      toast(`${v.name} ${on ? 'enabled' : 'disabled'}`, { timeout: 1500 });
    } catch (e) {
      this.error.show(`Could not ${on ? 'enable' : 'disable'} ${s.name}`, e, this.stopAction(s, e));
    }
  }

  /** For a disable refused because processors run: NiFi's "stop the referencing components, then disable". */
  stopAction(s, e) {
    if (e.status !== 409) return null;
    const cur = this.ctx.store.services.get(s.id) || s;
    const running = (cur.referencing_processors || []).filter((id) => this.ctx.store.processors.get(id)?.state === 'RUNNING');
    if (!running.length || cur.state !== 'ENABLED') return null;
    return {
      label: `Stop ${running.length} processor${running.length === 1 ? '' : 's'}, then disable`,
      run: async () => {
        this.error.clear();
        try {
          await this.ctx.store.setRunning(running, false);
          await this.setEnabled(cur, false);
        } catch (ex) { this.error.show(`Could not stop the processors using ${cur.name}`, ex); }
      },
    };
  }

  remove(s, anchor) {
    this.error.clear();
    const refs = (s.referencing_processors || []).length;
    const text = `Delete controller service “${s.name}”?${refs ? ` ${refs} processor${refs === 1 ? '' : 's'} still reference${refs === 1 ? 's' : ''} it.` : ''} This cannot be undone.`;
    this.ctx.confirmInline(anchor, text, 'Delete service', async () => {
      try {
        await this.ctx.store.deleteService(s.id);
        toast(`Deleted ${s.name}`);
        this.el.querySelector('[data-testid="services-add"]')?.focus();
      } catch (e) {
        this.error.show(`Could not delete ${s.name}`, e);
      }
    });
  }
}
