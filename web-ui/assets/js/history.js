// Undo and redo: every edit is a command object whose do() and undo() call the API.
// Commands run one at a time, in order.
import { Emitter } from './dom.js';
import { api } from './api.js';
import { toastError, toast } from './notify.js';

export const MASK = '********';

/** The POST body that recreates `p` as it is (sensitive values cannot be read back). */
export function processorSpec(p) {
  const props = {};
  for (const [k, v] of Object.entries(p.properties || {})) if (v !== MASK) props[k] = v;
  const spec = {
    id: p.id,
    type: p.type,
    name: p.name,
    position: { x: p.position.x, y: p.position.y },
    properties: props,
    state: 'STOPPED',
    auto_terminated_relationships: [...(p.auto_terminated_relationships || [])],
  };
  if (p.scheduling) spec.scheduling = { ...p.scheduling };
  if (p.retry) spec.retry = { ...p.retry, relationships: [...(p.retry.relationships || [])] };
  if (p.comments) spec.comments = p.comments;
  return spec;
}

export function connectionSpec(c) {
  const spec = {
    id: c.id,
    source: c.source,
    destination: c.destination,
    relationships: [...c.relationships],
  };
  if (c.name) spec.name = c.name;
  if (c.back_pressure_object_threshold != null) spec.back_pressure_object_threshold = c.back_pressure_object_threshold;
  if (c.back_pressure_data_size_threshold) spec.back_pressure_data_size_threshold = c.back_pressure_data_size_threshold;
  if (c.prioritizers) spec.prioritizers = [...c.prioritizers];
  if (c.flowfile_expiration) spec.flowfile_expiration = c.flowfile_expiration;
  if (c.bends && c.bends.length) spec.bends = c.bends.map((b) => ({ x: b.x, y: b.y }));
  return spec;
}

/** The patch that undoes `patch` applied to processor `p`. */
export function inverseProcessorPatch(p, patch) {
  const inv = {};
  for (const k of Object.keys(patch)) {
    if (k === 'revision') continue;
    if (k === 'properties') {
      inv.properties = {};
      for (const name of Object.keys(patch.properties)) {
        const v = (p.properties || {})[name];
        inv.properties[name] = v === undefined ? null : v;
      }
    } else if (k === 'retry') inv.retry = p.retry ? structuredClone(p.retry) : null;
    else inv[k] = p[k] === undefined ? null : structuredClone(p[k]);
  }
  return inv;
}

export function inverseConnectionPatch(c, patch) {
  const inv = {};
  for (const k of Object.keys(patch)) if (k !== 'revision') inv[k] = structuredClone(c[k]);
  return inv;
}

export class History extends Emitter {
  constructor(store) {
    super();
    this.store = store;
    this.undoStack = [];
    this.redoStack = [];
    this.chain = Promise.resolve();
    this.busy = false;
  }

  enqueue(fn) {
    const run = this.chain.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
        this.emit('change');
      }
    });
    this.chain = run.catch(() => {});
    return run;
  }

  /** Runs a command and records it. Rejects (and records nothing) when do() fails. */
  exec(cmd) {
    return this.enqueue(async () => {
      const r = await cmd.do();
      this.undoStack.push(cmd);
      if (this.undoStack.length > 200) this.undoStack.shift();
      this.redoStack = [];
      return r;
    });
  }

  undo() {
    return this.enqueue(async () => {
      const cmd = this.undoStack.pop();
      if (!cmd) return;
      try {
        await cmd.undo();
        this.redoStack.push(cmd);
        toast(`Undone: ${cmd.label}`, { timeout: 2000 });
      } catch (e) {
        toastError(`Could not undo “${cmd.label}”`, e);
      }
    });
  }

  redo() {
    return this.enqueue(async () => {
      const cmd = this.redoStack.pop();
      if (!cmd) return;
      try {
        await cmd.do();
        this.undoStack.push(cmd);
        toast(`Redone: ${cmd.label}`, { timeout: 2000 });
      } catch (e) {
        toastError(`Could not redo “${cmd.label}”`, e);
      }
    });
  }

  get undoLabel() { return this.undoStack.length ? this.undoStack[this.undoStack.length - 1].label : null; }
  get redoLabel() { return this.redoStack.length ? this.redoStack[this.redoStack.length - 1].label : null; }
}

// ---- commands ----

/** Adds processors and connections between them (drop from the palette, paste, connect). */
export function addComponents(store, label, procSpecs, connSpecs = []) {
  // Ids are fixed after the first run so that redo recreates the same components.
  const procs = procSpecs.map((p) => ({ ...p }));
  const conns = connSpecs.map((c) => ({ ...c }));
  return {
    label,
    created: { processors: [], connections: [] },
    async do() {
      const idMap = new Map();
      const madeP = [];
      const madeC = [];
      for (const spec of procs) {
        const oldKey = spec.tempId || spec.id;
        const body = { ...spec };
        delete body.tempId;
        const p = await store.createProcessor(body);
        spec.id = p.id;
        delete spec.tempId;
        idMap.set(oldKey, p.id);
        madeP.push(p.id);
      }
      for (const spec of conns) {
        spec.source = idMap.get(spec.source) || spec.source;
        spec.destination = idMap.get(spec.destination) || spec.destination;
        const c = await store.createConnection(spec);
        spec.id = c.id;
        madeC.push(c.id);
      }
      this.created = { processors: madeP, connections: madeC };
      return this.created;
    },
    async undo() {
      for (const c of conns) if (store.connections.has(c.id)) await store.deleteConnection(c.id);
      for (const p of procs) if (store.processors.has(p.id)) {
        if (store.processors.get(p.id).state === 'RUNNING') await store.stopProcessor(p.id);
        await store.deleteProcessor(p.id);
      }
    },
  };
}

/** Deletes processors (with their connections) and connections; undo recreates them. */
export function deleteComponents(store, procIds, connIds, { emptyQueues = false } = {}) {
  let snapP = [];
  let snapC = [];
  let running = [];
  const n = procIds.length + connIds.length;
  return {
    label: `delete ${n} component${n === 1 ? '' : 's'}`,
    async do() {
      const connSet = new Set(connIds);
      for (const id of procIds) for (const c of store.attached(id)) connSet.add(c.id);
      snapP = procIds.map((id) => store.processors.get(id)).filter(Boolean).map(processorSpec);
      running = procIds.filter((id) => store.processors.get(id)?.state === 'RUNNING');
      snapC = [...connSet].map((id) => store.connections.get(id)).filter(Boolean).map(connectionSpec);
      for (const id of running) await store.stopProcessor(id);
      for (const c of snapC) {
        const cur = store.connections.get(c.id);
        if (emptyQueues && cur && cur.status && cur.status.queued_count > 0) await store.emptyQueue(c.id);
        await store.deleteConnection(c.id);
      }
      for (const p of snapP) await store.deleteProcessor(p.id);
    },
    async undo() {
      for (const p of snapP) if (!store.processors.has(p.id)) await store.createProcessor(p);
      for (const c of snapC) if (!store.connections.has(c.id)) await store.createConnection(c);
      for (const id of running) await store.startProcessor(id).catch((e) => toastError('Could not restart', e));
    },
  };
}

export function moveProcessors(store, moves) {
  return {
    label: moves.length === 1 ? 'move processor' : `move ${moves.length} processors`,
    async do() {
      await Promise.all(moves.map((m) => store.patchProcessor(m.id, { position: m.to })));
    },
    async undo() {
      await Promise.all(moves.map((m) => store.patchProcessor(m.id, { position: m.from })));
    },
  };
}

export function patchProcessor(store, id, patch, label = 'change processor') {
  const p = store.processors.get(id);
  const inverse = inverseProcessorPatch(p, patch);
  return {
    label,
    do: () => store.patchProcessor(id, structuredClone(patch)),
    undo: () => store.patchProcessor(id, structuredClone(inverse)),
  };
}

export function patchConnection(store, id, patch, label = 'change connection') {
  const c = store.connections.get(id);
  const inverse = inverseConnectionPatch(c, patch);
  return {
    label,
    do: () => store.patchConnection(id, structuredClone(patch)),
    undo: () => store.patchConnection(id, structuredClone(inverse)),
  };
}

/** Replaces the whole flow (import); undo puts the previous definition back. */
export function replaceFlow(store, before, after) {
  return {
    label: 'import flow',
    async do() {
      const f = await api.put('/api/flow', after);
      if (f && f.processors) store.applyFlow(f);
      else await store.loadFlow();
    },
    async undo() {
      const f = await api.put('/api/flow', before);
      if (f && f.processors) store.applyFlow(f);
      else await store.loadFlow();
    },
  };
}
