// Property editors generated from a type's descriptors, shared by the processor and the
// controller service panels: descriptions, defaults, allowable values, required marks,
// expression-language hints, masked sensitive values, and controller service references
// (a select of the services that provide the API the property asks for).
import { h, clear } from './dom.js';
import { field, select, button } from './forms.js';
import { MASK } from './history.js';

export const EL_HINT = 'Expression language: ${attribute}, ${filename:toUpper()}, ${now():format(\'yyyy-MM-dd\')}, ${uuid}, ${literal(1):plus(2)}';

/**
 * One property's field, editing `props` (the draft) in place.
 * hooks: changed() after every edit; check(pd, row, value) for immediate checks;
 * readOnly (all controls disabled); services: { list(api), create(api, anchor, done), open(id) }
 * for properties that reference a controller service.
 */
export function propertyField(pd, props, hooks = {}) {
  const cur = props[pd.name];
  let control;
  const tid = `prop-${pd.name}`;
  const vkind = pd.validator && pd.validator.kind;
  let extra = null;
  let serviceRow = null;
  if (pd.controller_service && hooks.services) {
    serviceRow = serviceReference(pd, props, hooks);
    control = serviceRow.control;
    extra = serviceRow.extra;
  } else if (pd.allowable_values && pd.allowable_values.length) {
    const opts = [{ value: '', label: pd.default_value != null ? `(default: ${pd.allowable_values.find((a) => a.value === pd.default_value)?.display_name || pd.default_value})` : '(not set)' },
      ...pd.allowable_values.map((a) => ({ value: a.value, label: a.display_name || a.value, title: a.description }))];
    control = select(opts, cur ?? '', { 'data-testid': tid });
  } else if (vkind === 'boolean') {
    control = select([{ value: '', label: pd.default_value != null ? `(default: ${pd.default_value})` : '(not set)' }, 'true', 'false'], cur ?? '', { 'data-testid': tid });
  } else if (pd.sensitive) {
    control = h('input', { type: 'password', autocomplete: 'new-password', value: cur === MASK ? '' : cur ?? '', placeholder: cur === MASK ? '•••••• (set; type to replace)' : 'not set', 'data-testid': tid });
  } else if (/text|script|json/i.test(pd.name) && !/type|format/i.test(pd.name)) {
    control = h('textarea', { rows: 3, value: cur ?? '', placeholder: pd.default_value ?? '', 'data-testid': tid, spellcheck: 'false' });
    control.value = cur ?? '';
  } else {
    control = h('input', { type: 'text', value: cur ?? '', placeholder: pd.default_value != null ? pd.default_value : '', 'data-testid': tid, spellcheck: 'false' });
  }
  const onChange = () => {
    const v = control.value;
    if (pd.sensitive && v === '' && cur === MASK) props[pd.name] = MASK;
    else if (v === '') delete props[pd.name];
    else props[pd.name] = v;
    if (hooks.check) hooks.check(pd, row, v);
    if (serviceRow) serviceRow.sync();
    hooks.changed && hooks.changed();
  };
  control.addEventListener('input', onChange);
  control.addEventListener('change', onChange);
  const badge = pd.expression_language ? h('span', { class: 'el-badge', 'data-tip': EL_HINT, 'aria-label': 'supports expression language', 'data-testid': `el-badge-${pd.name}`, text: '${EL}' }) : null;
  if (pd.sensitive && cur === MASK && !hooks.readOnly) {
    extra = button('Clear', { class: 'btn small', 'aria-label': `Remove the value of ${pd.name}`, onclick: () => { delete props[pd.name]; control.value = ''; control.placeholder = 'not set'; hooks.changed && hooks.changed(); } });
  }
  const descText = [pd.description, pd.default_value != null && !pd.sensitive ? `Default: ${pd.default_value}` : null,
    pd.expression_language ? 'Supports ${…} expressions.' : null,
    pd.controller_service ? `Takes a controller service that provides ${pd.controller_service}.` : null].filter(Boolean).join(' · ');
  const row = field({ label: pd.name, control, desc: descText, required: pd.required, badge, testid: pd.name, extra });
  if (hooks.readOnly) {
    control.disabled = true;
    control.setAttribute('aria-readonly', 'true');
  }
  if (pd.expression_language) {
    control.addEventListener('focus', () => row.classList.add('show-el'));
    control.addEventListener('blur', () => row.classList.remove('show-el'));
    row.append(h('div', { class: 'el-hint', 'data-testid': `el-hint-${pd.name}`, text: EL_HINT }));
  }
  row.control = control;
  /** Redraws a service reference's choices (services came, went or changed state). */
  row.refreshServices = () => serviceRow && serviceRow.refresh();
  return row;
}

/** A select of the services providing pd.controller_service, "New…" and "Open". */
function serviceReference(pd, props, hooks) {
  const api = pd.controller_service;
  const svc = hooks.services;
  const control = h('select', { 'data-testid': `prop-${pd.name}`, 'data-service-api': api });
  const stateText = (s) => (s.state === 'ENABLED' ? 'enabled' : (s.validation_errors || []).length ? 'disabled, invalid' : 'disabled');
  const refresh = () => {
    const v = props[pd.name] ?? '';
    const list = svc.list(api);
    clear(control);
    control.append(h('option', { value: '', text: list.length ? '(none)' : `(none: no ${api} service yet)` }));
    for (const s of list) control.append(h('option', { value: s.id, text: `${s.name} (${stateText(s)})`, 'data-state': s.state.toLowerCase() }));
    if (v && !list.some((s) => s.id === v)) control.append(h('option', { value: v, text: `${v} (missing)` }));
    control.value = v;
    sync();
  };
  const create = button('New service…', { class: 'btn small', 'data-testid': `prop-create-service-${pd.name}`, title: `Create a new ${api} service`,
    'aria-label': `Create a new service for ${pd.name}`, 'aria-haspopup': 'dialog',
    onclick: () => svc.create(api, create, (id) => {
      props[pd.name] = id;
      refresh();
      control.dispatchEvent(new Event('change'));
      control.focus();
    }) });
  const open = button('Open', { class: 'btn small', 'data-testid': `prop-open-service-${pd.name}`, 'aria-label': `Open the service chosen for ${pd.name}`,
    onclick: () => { if (control.value) svc.open(control.value); } });
  const sync = () => {
    open.disabled = !control.value || !svc.list(api).some((s) => s.id === control.value);
    open.title = open.disabled ? 'Choose a service first' : 'Configure, enable or disable this service';
  };
  if (hooks.readOnly) create.disabled = true;
  refresh();
  return { control, extra: h('span', { class: 'btn-row nowrap' }, create, open), refresh, sync };
}

/** Puts each message under the field it names (`fields`: name → row); answers the rest. */
export function placeErrors(fields, errors, { generalPattern } = {}) {
  for (const row of fields.values()) row.setError('');
  const general = [];
  for (const msg of errors) {
    let placed = false;
    if (generalPattern && generalPattern.test(msg)) { general.push(msg); continue; }
    for (const [name, row] of fields) {
      if (msg.includes(`'${name}'`) || msg.startsWith(`${name}:`) || msg.startsWith(`${name} `) || msg.includes(`"${name}"`) || msg.includes(`property ${name}`)) {
        row.setError(msg);
        placed = true;
        break;
      }
    }
    if (!placed) general.push(msg);
  }
  return general;
}

/** Whether a descriptor shows now (its depends_on is met by the draft). */
export function visibleWith(descriptors, props) {
  return (pd) => {
    if (!pd.depends_on) return true;
    const [dep, vals] = Array.isArray(pd.depends_on) ? pd.depends_on : [pd.depends_on.name, pd.depends_on.values];
    const depDesc = descriptors.find((x) => x.name === dep);
    const v = props[dep] ?? (depDesc && depDesc.default_value);
    return !vals || !vals.length || vals.includes(v);
  };
}

/** The browser's own check before the server's word: a required value is missing. */
export function requiredCheck(pd, row, v) {
  if (pd.required && v === '' && pd.default_value == null) row.setError(`${pd.name} is required`);
  else row.setError('');
}
