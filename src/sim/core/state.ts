/**
 * Saved state: the machine's parts save to plain, structured-clonable values and load back, the way
 * QEMU's vmstate descriptions and v86's get_state/set_state do.
 *
 * A part's state is its own data fields, deep-copied: numbers, strings, bigints, typed arrays (as
 * copies), arrays, Maps, Sets, plain objects, and the parts it owns (as nested states tagged with
 * their class). A function is never state: a field holding one must be wiring the constructors
 * make again (listed in the class's `static stateSkip`), or saving throws naming its path — so a
 * new part that keeps progress in a closure cannot silently break snapshots. A part a state reaches a second time (a vCPU reached from its VM and from its VMM)
 * is saved once, as a reference to the path where it was first met, so shared objects stay shared.
 *
 * Loading writes a state *into* an object graph built by the same constructors (a fresh world from
 * the same scenario), in place: typed arrays, Maps and arrays keep their identity, so whatever holds
 * them keeps seeing them. A part the fresh graph lacks (a VM a step created, a TD, a vCPU's CPU after
 * load_program) is made by its registered factory (`StateFactories`) and then loaded.
 *
 * A class can describe its state more precisely:
 * - `static stateSkip: readonly string[]` — fields that are caches or wiring, never saved (a TLB,
 *   compiled code, listeners); an object made with `wiring()` is never saved wherever it is met;
 * - `saveState()` / `loadState(s)` methods — its own contract (a sparse page table, a generator's log).
 */

/** A saved state: plain, structured-clonable data. */
export type State = unknown;

/** A nested part's state: its class's registered name, and its fields (or what its saveState gave). */
export interface PartState {
  $class: string;
  [field: string]: unknown;
}

/** A second reference to a part saved elsewhere in the same state, by the path where it was first met. */
export interface RefState {
  $ref: (string | number)[];
}

/** Makes an empty part of a registered class for a state the fresh graph has no object for. */
export type StateFactory = (state: PartState, ctx: LoadContext) => object;
export type StateFactories = Readonly<Record<string, StateFactory>>;

export interface LoadContext {
  /** The root of the graph being loaded (for factories that need a host, a trace, a process). */
  readonly root: object;
  /** The nearest enclosing part (the VM when a vCPU is made). */
  readonly owner: object;
  readonly path: readonly (string | number)[];
}

interface Stateful {
  saveState?(): unknown;
  loadState?(s: unknown, ctx: LoadContext): void;
  /** Called before the generic field load (rebuild what the state's fields describe). */
  beforeLoadState?(s: PartState, ctx: LoadContext): void;
  /** Called after the generic field load (drop caches the state did not carry). */
  afterLoadState?(): void;
}

/** A class, as a key (its constructor). */
type Ctor = abstract new (...args: never[]) => unknown;

const NAMES = new Map<unknown, string>();

/**
 * Register a class whose parts appear in states, under a stable name (constructor names do not
 * survive minification). A part of an unregistered class is still saved, but cannot be made anew.
 */
export function stateClass(name: string, ctor: Ctor): void {
  NAMES.set(ctor, name);
}

function classNameOf(o: object): string {
  const c = (o as { constructor?: { name: string } }).constructor;
  return (c && NAMES.get(c)) ?? c?.name ?? 'Object';
}

function skipOf(o: object): ReadonlySet<string> | undefined {
  const c = (o as { constructor?: { stateSkip?: readonly string[]; stateSkipSet?: Set<string> } }).constructor;
  if (!c?.stateSkip) return undefined;
  // Cached on the constructor itself (an own property, so a subclass gets its own).
  if (!Object.prototype.hasOwnProperty.call(c, 'stateSkipSet')) c.stateSkipSet = new Set(c.stateSkip);
  return c.stateSkipSet;
}

const isPlainObject = (v: object): boolean => {
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
};

export class StateError extends Error {}

const WIRING = new WeakSet<object>();

/**
 * Mark an object as wiring (the bundle of callbacks a constructor hands a part: a VMM's vCPU host,
 * a device's env): a field holding it is not saved, and a load leaves the fresh graph's own in place.
 * Returns the object.
 */
export function wiring<T extends object>(o: T): T {
  WIRING.add(o);
  return o;
}

/**
 * Save a whole graph from its root: the root's fields (minus its stateSkip), and everything they
 * reach. The root's own saveState() is not called (it is usually the one calling this).
 */
export function saveGraph(root: object): PartState {
  const seen = new Map<object, (string | number)[]>([[root, []]]);
  return saveFieldsInto(root, { $class: classNameOf(root) }, [], seen);
}

/** Save one value (a field's), as part of a graph walk. Returns undefined for what is not state. */
function saveValue(v: unknown, path: (string | number)[], seen: Map<object, (string | number)[]>): unknown {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function')
      throw new StateError(`state: ${pathText(path)} is a function, which a state cannot hold: if the constructor makes it (wiring), list the field in its class's static stateSkip; if it is progress (a callback, a timer's action), keep it as data (a kind and its arguments, resolved when it runs)`);
    if (typeof v === 'symbol') return undefined;
    return v;
  }
  if (WIRING.has(v)) return undefined;
  if (ArrayBuffer.isView(v)) {
    if (v instanceof DataView) return undefined;
    return (v as unknown as { slice(): unknown }).slice();
  }
  const first = seen.get(v);
  if (first) return { $ref: first } satisfies RefState;
  seen.set(v, path);
  if (Array.isArray(v)) return v.map((x, i) => saveValue(x, [...path, i], seen));
  if (v instanceof Map) {
    const out = new Map<unknown, unknown>();
    for (const [k, x] of v) {
      if (typeof k === 'object' && k !== null) throw new StateError(`state: the Map at ${pathText(path)} has an object key; only plain keys can be saved`);
      out.set(k, saveValue(x, [...path, k as string | number], seen));
    }
    return out;
  }
  if (v instanceof Set) {
    for (const x of v) if (typeof x === 'object' && x !== null) throw new StateError(`state: the Set at ${pathText(path)} holds objects; only plain values can be saved`);
    return new Set(v);
  }
  if (Object.prototype.toString.call(v) === '[object Generator]')
    throw new StateError(`state: ${pathText(path)} is a suspended generator, whose progress cannot be saved; give its owner a saveState()`);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) {
      const x = saveValue((v as Record<string, unknown>)[k], [...path, k], seen);
      if (x !== undefined || (v as Record<string, unknown>)[k] === undefined) out[k] = x;
    }
    return out;
  }
  return saveObject(v, path, seen);
}

function saveObject(o: object, path: (string | number)[], seen: Map<object, (string | number)[]>): PartState {
  if (!seen.has(o)) seen.set(o, path);
  const s = o as Stateful;
  const out: PartState = { $class: classNameOf(o) };
  if (typeof s.saveState === 'function') {
    out.$state = s.saveState();
    return out;
  }
  return saveFieldsInto(o, out, path, seen);
}

function saveFieldsInto(o: object, out: PartState, path: (string | number)[], seen: Map<object, (string | number)[]>): PartState {
  const skip = skipOf(o);
  for (const k of Object.keys(o)) {
    if (skip?.has(k)) continue;
    const v = (o as Record<string, unknown>)[k];
    const x = saveValue(v, [...path, k], seen);
    if (x !== undefined || v === undefined) out[k] = x;
  }
  return out;
}

interface Pending {
  ref: (string | number)[];
  assign: (v: unknown) => void;
  at: (string | number)[];
}

/**
 * Load a whole graph's state into `root` (built by the same constructors), field by field (the
 * root's own loadState() is not called: it is usually the one calling this).
 */
export function loadGraph(root: object, state: PartState, factories: StateFactories = {}): void {
  const pending: Pending[] = [];
  const ctx = { root, owner: root, path: [] as (string | number)[] };
  loadObject(root, state, ctx, factories, pending, true);
  for (const p of pending) p.assign(resolve(root, p.ref, p.at));
}

/** The object at `path` from `root` (a RefState's target), or undefined. */
export function resolvePath(root: object, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (v instanceof Map) v = v.get(k);
    else if (v !== null && typeof v === 'object') v = (v as Record<string | number, unknown>)[k];
    else return undefined;
  }
  return v;
}

/** resolvePath, throwing (naming where the reference was met) when the target is missing. */
function resolve(root: object, ref: (string | number)[], at: (string | number)[]): unknown {
  const v = resolvePath(root, ref);
  if (v === undefined) throw new StateError(`state: ${pathText(at)} refers to ${pathText(ref)}, which the restored machine does not have`);
  return v;
}

function loadObject(o: object, state: PartState, ctx: LoadContext, f: StateFactories, pending: Pending[], fieldsOnly = false): void {
  const s = o as Stateful;
  if (!fieldsOnly && typeof s.loadState === 'function') {
    if (!('$state' in state)) throw new StateError(`state: ${pathText(ctx.path)} (${state.$class}) was saved without its saveState()`);
    s.loadState(state.$state, { ...ctx, owner: o });
    return;
  }
  const skip = skipOf(o);
  const inner = { ...ctx, owner: o };
  s.beforeLoadState?.(state, inner);
  for (const k of Object.keys(state)) {
    if (k === '$class' || skip?.has(k)) continue;
    const rec = o as Record<string, unknown>;
    const path = [...ctx.path, k];
    const v = loadValue(rec[k], state[k], { ...inner, path }, f, pending, (x) => {
      rec[k] = x;
    });
    if (rec[k] !== v) rec[k] = v;
  }
  s.afterLoadState?.();
}

function loadValue(cur: unknown, s: unknown, ctx: LoadContext, f: StateFactories, pending: Pending[], assign: (v: unknown) => void): unknown {
  if (s === null || typeof s !== 'object') return s;
  if (ArrayBuffer.isView(s)) {
    const sa = s as unknown as { length: number; slice(): unknown; constructor: unknown };
    if (ArrayBuffer.isView(cur) && (cur as unknown as { constructor: unknown }).constructor === sa.constructor && (cur as unknown as { length: number }).length === sa.length) {
      (cur as unknown as { set(a: unknown): void }).set(s);
      return cur;
    }
    return sa.slice();
  }
  if ('$ref' in s && Array.isArray((s as RefState).$ref)) {
    pending.push({ ref: (s as RefState).$ref, assign, at: [...ctx.path] });
    return cur;
  }
  if (Array.isArray(s)) {
    const arr = Array.isArray(cur) ? (cur as unknown[]) : [];
    for (let i = 0; i < s.length; i++) {
      const v = loadValue(arr[i], s[i], { ...ctx, path: [...ctx.path, i] }, f, pending, (x) => {
        arr[i] = x;
      });
      if (arr[i] !== v || !(i in arr)) arr[i] = v;
    }
    arr.length = s.length;
    return arr;
  }
  if (s instanceof Map) {
    const m = cur instanceof Map ? (cur as Map<unknown, unknown>) : new Map<unknown, unknown>();
    for (const k of [...m.keys()]) if (!s.has(k)) m.delete(k);
    for (const [k, x] of s) {
      const v = loadValue(m.get(k), x, { ...ctx, path: [...ctx.path, k as string | number] }, f, pending, (y) => {
        m.set(k, y);
      });
      if (m.get(k) !== v || !m.has(k)) m.set(k, v);
    }
    return m;
  }
  if (s instanceof Set) {
    const set = cur instanceof Set ? (cur as Set<unknown>) : new Set<unknown>();
    set.clear();
    for (const x of s) set.add(x);
    return set;
  }
  const rec = s as Record<string, unknown>;
  if (typeof rec.$class === 'string') {
    const ps = rec as PartState;
    let target = cur;
    if (target === null || typeof target !== 'object' || classNameOf(target) !== ps.$class) {
      const make = f[ps.$class];
      if (!make) throw new StateError(`state: the restored machine has no ${ps.$class} at ${pathText(ctx.path)}, and nothing is registered to make one`);
      target = make(ps, ctx);
    }
    loadObject(target as object, ps, ctx, f, pending);
    return target;
  }
  // A plain object: loaded in place, its keys made exactly the state's.
  const obj = cur !== null && typeof cur === 'object' && isPlainObject(cur) ? (cur as Record<string, unknown>) : {};
  for (const k of Object.keys(obj)) if (!(k in rec) && typeof obj[k] !== 'function') delete obj[k];
  for (const k of Object.keys(rec)) {
    const v = loadValue(obj[k], rec[k], { ...ctx, path: [...ctx.path, k] }, f, pending, (x) => {
      obj[k] = x;
    });
    if (obj[k] !== v || !(k in obj)) obj[k] = v;
  }
  return obj;
}

function pathText(path: readonly (string | number)[]): string {
  return path.length === 0 ? '(root)' : path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
}
