// The flow as the editor knows it: processors, connections, types, revisions. Every change
// goes through the API; answers and WebSocket news update the maps and notify the views.
import { api, enc, ApiError } from './api.js';
import { Emitter } from './dom.js';
import { toast, toastError } from './notify.js';

export class Store extends Emitter {
  constructor() {
    super();
    this.types = new Map();
    this.serviceTypes = new Map();
    this.services = new Map();
    this.processors = new Map();
    this.connections = new Map();
    this.labels = [];
    this.revision = 0;
    this.name = '';
  }

  async loadTypes() {
    const r = await api.get('/api/processor-types');
    const list = (r && r.processor_types) || [];
    list.sort((a, b) => a.type.localeCompare(b.type));
    this.types = new Map(list.map((t) => [t.type, t]));
    const svc = (r && r.controller_service_types) || [];
    svc.sort((a, b) => a.type.localeCompare(b.type));
    this.serviceTypes = new Map(svc.map((t) => [t.type, t]));
    this.emit('types');
  }

  async loadFlow() {
    const flow = await api.get('/api/flow');
    this.applyFlow(flow);
    return flow;
  }

  applyFlow(flow) {
    this.revision = flow.revision || 0;
    this.name = flow.name || '';
    this.labels = flow.labels || [];
    const seenP = new Set();
    for (const p of flow.processors || []) {
      seenP.add(p.id);
      this.upsertProcessor(p, true);
    }
    const seenC = new Set();
    for (const c of flow.connections || []) {
      seenC.add(c.id);
      this.upsertConnection(c, true);
    }
    for (const id of [...this.connections.keys()]) if (!seenC.has(id)) this.dropConnection(id);
    for (const id of [...this.processors.keys()]) if (!seenP.has(id)) this.dropProcessor(id);
    this.emit('flow', flow);
  }

  upsertProcessor(p, force = false) {
    const old = this.processors.get(p.id);
    if (old && !force && old.revision > p.revision) return old;
    this.processors.set(p.id, p);
    this.emit(old ? 'processor:update' : 'processor:add', p, old);
    return p;
  }

  dropProcessor(id) {
    if (!this.processors.has(id)) return;
    for (const c of [...this.connections.values()]) if (c.source === id || c.destination === id) this.dropConnection(c.id);
    this.processors.delete(id);
    this.emit('processor:remove', id);
  }

  upsertConnection(c, force = false) {
    const old = this.connections.get(c.id);
    if (old && !force && old.revision > c.revision) return old;
    this.connections.set(c.id, c);
    this.emit(old ? 'connection:update' : 'connection:add', c, old);
    return c;
  }

  dropConnection(id) {
    if (!this.connections.has(id)) return;
    const c = this.connections.get(id);
    this.connections.delete(id);
    this.emit('connection:remove', id, c);
  }

  /** A WebSocket status tick: figures, run states, validity, bulletin counts. */
  applyStatus(msg) {
    for (const s of msg.processors || []) {
      const p = this.processors.get(s.id);
      if (!p) continue;
      if (s.state) p.state = s.state;
      if (s.status) p.status = s.status;
      if ('active_tasks' in s) p.active_tasks = s.active_tasks;
      if (s.validation_errors) p.validation_errors = s.validation_errors;
      if ('bulletin_count' in s) p.bulletin_count = s.bulletin_count;
    }
    for (const s of msg.connections || []) {
      const c = this.connections.get(s.id);
      if (c && s.status) c.status = s.status;
    }
    this.emit('status', msg);
  }

  outgoing(id) {
    const out = [];
    for (const c of this.connections.values()) if (c.source === id) out.push(c);
    return out;
  }

  attached(id) {
    const out = [];
    for (const c of this.connections.values()) if (c.source === id || c.destination === id) out.push(c);
    return out;
  }

  // ---- component reads ----
  async refreshProcessor(id) {
    try {
      const p = await api.get(`/api/processors/${enc(id)}`);
      return this.upsertProcessor(p);
    } catch (e) {
      if (e.status === 404) this.dropProcessor(id);
      else throw e;
    }
  }

  async refreshConnection(id) {
    try {
      const c = await api.get(`/api/connections/${enc(id)}`);
      return this.upsertConnection(c);
    } catch (e) {
      if (e.status === 404) this.dropConnection(id);
      else throw e;
    }
  }

  // ---- edits (each answers the new view) ----
  async createProcessor(body) {
    const p = await api.post('/api/processors', body);
    return this.upsertProcessor(p, true);
  }

  async patchProcessor(id, patch) {
    const cur = this.processors.get(id);
    const body = { ...patch };
    if (cur && body.revision === undefined) body.revision = cur.revision;
    try {
      const p = await api.patch(`/api/processors/${enc(id)}`, body);
      return this.upsertProcessor(p, true);
    } catch (e) {
      if (e.status === 409) {
        toast(`${cur ? cur.name : id} was changed elsewhere; it has been reloaded. ${e.message}`, { kind: 'error' });
        await this.refreshProcessor(id).catch(() => {});
      }
      throw e;
    }
  }

  async deleteProcessor(id) {
    const cur = this.processors.get(id);
    const rev = cur ? `?revision=${cur.revision}` : '';
    try {
      await api.del(`/api/processors/${enc(id)}${rev}`);
    } catch (e) {
      if (e.status === 404) { this.dropProcessor(id); return; }
      if (e.status === 409) await this.refreshProcessor(id).catch(() => {});
      throw e;
    }
    this.dropProcessor(id);
  }

  async startProcessor(id) {
    const p = await api.post(`/api/processors/${enc(id)}/start`, {});
    if (p && p.id) this.upsertProcessor(p, true);
  }

  async stopProcessor(id) {
    const p = await api.post(`/api/processors/${enc(id)}/stop`, {});
    if (p && p.id) this.upsertProcessor(p, true);
  }

  /** Start or stop many (or, with ids null, all). Reports errors per processor. */
  async setRunning(ids, run) {
    const body = ids ? { ids } : {};
    const r = await api.post(run ? '/api/flow/start' : '/api/flow/stop', body);
    const errs = (r && r.errors) || {};
    const lines = Object.entries(errs).map(([id, why]) => `${this.processors.get(id)?.name || id}: ${why}`);
    if (lines.length) toast(`${lines.length} processor${lines.length > 1 ? 's' : ''} could not ${run ? 'start' : 'stop'}`, { kind: 'error', details: lines });
    const changed = (r && (r.started || r.stopped)) || [];
    await Promise.all(changed.map((id) => this.refreshProcessor(id).catch(() => {})));
    return r;
  }

  async createConnection(body) {
    const c = await api.post('/api/connections', body);
    this.upsertConnection(c, true);
    // The source's validity depends on its connections.
    this.refreshProcessor(c.source).catch(() => {});
    return c;
  }

  async patchConnection(id, patch) {
    const cur = this.connections.get(id);
    const body = { ...patch };
    if (cur && body.revision === undefined) body.revision = cur.revision;
    try {
      const c = await api.patch(`/api/connections/${enc(id)}`, body);
      this.upsertConnection(c, true);
      this.refreshProcessor(c.source).catch(() => {});
      return c;
    } catch (e) {
      if (e.status === 409) {
        toast(`The connection was changed elsewhere; it has been reloaded. ${e.message}`, { kind: 'error' });
        await this.refreshConnection(id).catch(() => {});
      }
      throw e;
    }
  }

  async deleteConnection(id) {
    const cur = this.connections.get(id);
    const rev = cur ? `?revision=${cur.revision}` : '';
    try {
      await api.del(`/api/connections/${enc(id)}${rev}`);
    } catch (e) {
      if (e.status === 404) { this.dropConnection(id); return; }
      throw e;
    }
    this.dropConnection(id);
    if (cur) this.refreshProcessor(cur.source).catch(() => {});
  }

  async emptyQueue(id) {
    const r = await api.del(`/api/connections/${enc(id)}/queue`);
    return r;
  }

  async autoTerminate(id, rels) {
    const p = this.processors.get(id);
    const set = new Set(p.auto_terminated_relationships || []);
    for (const r of rels) set.add(r);
    return this.patchProcessor(id, { auto_terminated_relationships: [...set] });
  }

  // ---- controller services (shared clients: their own list, not part of GET /api/flow) ----
  async loadServices() {
    const r = await api.get('/api/controller-services');
    const list = (r && r.controller_services) || [];
    const seen = new Set();
    let changed = list.length !== this.services.size;
    for (const v of list) {
      seen.add(v.id);
      const old = this.services.get(v.id);
      if (old && JSON.stringify(old) === JSON.stringify(v)) continue;
      changed = true;
      this.upsertService(v, true, true);
    }
    for (const id of [...this.services.keys()]) if (!seen.has(id)) this.dropService(id, true);
    if (changed || !this.servicesLoaded) this.emit('services');
    this.servicesLoaded = true;
    return list;
  }

  upsertService(v, force = false, quiet = false) {
    const old = this.services.get(v.id);
    if (old && !force && old.revision > v.revision) return old;
    this.services.set(v.id, v);
    this.emit(old ? 'service:update' : 'service:add', v, old);
    if (!quiet) this.emit('services');
    return v;
  }

  dropService(id, quiet = false) {
    if (!this.services.has(id)) return;
    this.services.delete(id);
    this.emit('service:remove', id);
    if (!quiet) this.emit('services');
  }

  async refreshService(id) {
    try {
      return this.upsertService(await api.get(`/api/controller-services/${enc(id)}`), true);
    } catch (e) {
      if (e.status === 404) this.dropService(id);
      else throw e;
    }
  }

  /** The services that provide `apiName`, by name. */
  servicesProviding(apiName) {
    return [...this.services.values()].filter((s) => s.provides === apiName).sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  }

  /** Service types that provide `apiName` (all of them without one). */
  serviceTypesProviding(apiName) {
    return [...this.serviceTypes.values()].filter((t) => !apiName || t.provides === apiName);
  }

  async createService(body) {
    return this.upsertService(await api.post('/api/controller-services', body), true);
  }

  async patchService(id, patch) {
    const cur = this.services.get(id);
    const body = { ...patch };
    if (cur && body.revision === undefined) body.revision = cur.revision;
    try {
      return this.upsertService(await api.patch(`/api/controller-services/${enc(id)}`, body), true);
    } catch (e) {
      if (e.status === 409 || e.status === 404) await this.refreshService(id).catch(() => {});
      throw e;
    }
  }

  /** Enable or disable; a refusal (400 invalid, 409 in use) reloads the service and throws. */
  async setServiceEnabled(id, on) {
    try {
      return this.upsertService(await api.post(`/api/controller-services/${enc(id)}/${on ? 'enable' : 'disable'}`, {}), true);
    } catch (e) {
      await this.refreshService(id).catch(() => {});
      throw e;
    } finally {
      // Referencing processors' validity follows the service's state.
      const s = this.services.get(id);
      for (const pid of (s && s.referencing_processors) || []) this.refreshProcessor(pid).catch(() => {});
    }
  }

  async deleteService(id) {
    const cur = this.services.get(id);
    const rev = cur ? `?revision=${cur.revision}` : '';
    try {
      await api.del(`/api/controller-services/${enc(id)}${rev}`);
    } catch (e) {
      if (e.status === 404) { this.dropService(id); return; }
      await this.refreshService(id).catch(() => {});
      throw e;
    }
    this.dropService(id);
  }
}

export function isConflict(e) {
  return e instanceof ApiError && e.status === 409;
}

export { toastError };
