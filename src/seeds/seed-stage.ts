/**
 * What a seed declares to be part of a pipeline (issue 17; module exports, or
 * an executable's sidecar), as the catalog gossips it. A stage consumes tags;
 * a source has `source` and `produces`; a destination consumes and produces
 * nothing. It lives here, not in pipelines/, because the seeds layer reads it
 * and may not import pipelines (which re-exports it).
 */
export interface StageDecl {
  consumes: string[]
  produces?: string
  /** Exports `source` (an async generator): a source routine. */
  source: boolean
  /** Instances per peer at most. @default the peer's core count */
  maxInstances?: number
  /** An instance idle this long stops (down to 1), ms. @default DEFAULT_IDLE_MS */
  idleMs?: number
  /** Retries of a throwing `run` before the packet goes to the dead-letter list. @default DEFAULT_STAGE_RETRIES */
  retries?: number
  /** Inbox bound of one stage on one peer (packets). @default DEFAULT_INBOX */
  inbox?: number
  /** Custom events the stage handles (`on{Event}` exports or its `events` map), lower-cased. */
  events: string[]
  /**
   * Where a module stage's instances run: `thread`, a worker thread of the
   * peer (cheapest per packet); `process`, a child process of its own (native
   * addons that are not thread-safe, code that must not share the peer's
   * process). @default the peer's `[pipelines] isolation`, else `thread`
   */
  isolation?: StageIsolation
}

export type StageIsolation = 'thread' | 'process'
export const STAGE_ISOLATIONS: readonly StageIsolation[] = ['thread', 'process']

/** A tag: letters, digits and `._:-`, not starting with a dot, 1–128 characters (it names an rx directory and a URL segment). */
export const TAG_PATTERN = /^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$/
/** An event name as a stage handles it: lower case, 1–64 characters. */
export const EVENT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** Most tags a stage may consume, and most custom events it may declare (the declaration is gossiped). */
export const MAX_STAGE_TAGS = 64
export const MAX_STAGE_EVENTS = 64

const BOUNDS = {
  maxInstances: [1, 1024],
  idleMs: [1, 7 * 24 * 60 * 60 * 1000],
  retries: [0, 100],
  inbox: [1, 1_000_000]
} as const
type Bounded = keyof typeof BOUNDS
const BOUNDED = Object.keys(BOUNDS) as Bounded[]
const FIELDS: ReadonlySet<string> = new Set(['consumes', 'produces', 'source', 'events', 'isolation', ...BOUNDED])

/** Lifecycle events belong to the engine: a handler of one of them is no custom event. */
const LIFECYCLE: ReadonlySet<string> = new Set(['start', 'pause', 'resume', 'stop', 'kill'])

type Checked = { ok: true, stage?: StageDecl } | { ok: false, error: string }
type Handler = (...a: never[]) => unknown

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

export function isTag (x: unknown): x is string {
  return typeof x === 'string' && TAG_PATTERN.test(x)
}

/** `onFlushCache` -> `flushcache`; undefined for any other name. */
function eventOfExport (name: string): string | undefined {
  return /^on[A-Z][A-Za-z0-9_]*$/.test(name) ? name.slice(2).toLowerCase() : undefined
}

/**
 * The custom event handlers of a module: its `on{Event}` functions (named
 * exports, then those of its default export object) and its `events` map,
 * by lower-cased event name. The stage child calls them; the catalog lists
 * their names.
 */
export function stageEventHandlers (exports: Readonly<Record<string, unknown>>): Map<string, Handler> {
  const handlers = new Map<string, Handler>()
  const def = isObj(exports.default) ? exports.default : undefined
  for (const scope of [exports, def]) {
    if (scope === undefined) continue
    const map = scope.events
    if (isObj(map)) for (const [name, fn] of Object.entries(map)) if (typeof fn === 'function') handlers.set(name.toLowerCase(), fn as Handler)
    for (const [name, fn] of Object.entries(scope)) {
      const event = eventOfExport(name)
      if (event !== undefined && typeof fn === 'function') handlers.set(event, fn as Handler)
    }
  }
  return handlers
}

/** A module's `run`: a `run` export, its default export object's `run`, or a default function. */
export function stageRunOf (exports: Readonly<Record<string, unknown>>): Handler | undefined {
  const def = exports.default
  if (typeof exports.run === 'function') return exports.run as Handler
  if (isObj(def) && typeof def.run === 'function') return (def.run as Handler).bind(def)
  if (typeof def === 'function') return def as Handler
  return undefined
}

/** A field of a module: the named export, else the default export object's. */
function field (exports: Readonly<Record<string, unknown>>, name: string): unknown {
  if (exports[name] !== undefined) return exports[name]
  return isObj(exports.default) ? exports.default[name] : undefined
}

/** The checked common part of a declaration (tags and numbers), whatever declares it. */
function common (get: (name: string) => unknown, source: boolean, events: string[]): Checked {
  const rawConsumes = get('consumes')
  const produces = get('produces')
  if (rawConsumes === undefined && !source) {
    return produces === undefined ? { ok: true } : { ok: false, error: 'produces needs consumes or a source' }
  }
  const consumes = rawConsumes === undefined ? [] : Array.isArray(rawConsumes) ? rawConsumes : [rawConsumes]
  if (consumes.length > MAX_STAGE_TAGS || !consumes.every(isTag)) {
    return { ok: false, error: `consumes must be a tag or a list of at most ${MAX_STAGE_TAGS} tags (letters, digits, ._:-)` }
  }
  if (consumes.length === 0 && !source) return { ok: false, error: 'a stage must consume at least one tag, or be a source' }
  if (produces !== undefined && !isTag(produces)) return { ok: false, error: 'produces must be a tag (letters, digits, ._:-)' }
  if (source && produces === undefined) return { ok: false, error: 'a source must declare what it produces' }
  const stage: StageDecl = { consumes: [...new Set(consumes)], source, events }
  if (produces !== undefined) stage.produces = produces
  for (const name of BOUNDED) {
    const v = get(name)
    if (v === undefined) continue
    const [min, max] = BOUNDS[name]
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) return { ok: false, error: `${name} must be an integer from ${min} to ${max}` }
    stage[name] = v as number
  }
  const isolation = get('isolation')
  if (isolation !== undefined) {
    if (!STAGE_ISOLATIONS.includes(isolation as StageIsolation)) return { ok: false, error: `isolation must be one of ${STAGE_ISOLATIONS.join(', ')}` }
    stage.isolation = isolation as StageIsolation
  }
  return { ok: true, stage }
}

/**
 * A module's pipeline declaration: `consumes` (a tag or a list), `produces`,
 * `source` (an async generator function), `maxInstances`, `idleMs`,
 * `retries`, `inbox`, and its custom event handlers; named exports win over
 * the default export object's. Undefined stage when it declares no
 * `consumes` and no `source`; an error when the declaration is unusable.
 */
export function moduleStage (exports: Readonly<Record<string, unknown>> | undefined): Checked {
  if (exports === undefined) return { ok: true }
  const get = (name: string): unknown => field(exports, name)
  const source = get('source')
  if (source !== undefined && typeof source !== 'function') return { ok: false, error: 'source must be an async generator function' }
  const checked = common(get, source !== undefined, [])
  if (!checked.ok || checked.stage === undefined) return checked
  if (checked.stage.consumes.length > 0 && stageRunOf(exports) === undefined) return { ok: false, error: 'a stage that consumes must export run(packet, ctx)' }
  const map = get('events')
  if (map !== undefined && (!isObj(map) || !Object.values(map).every(fn => typeof fn === 'function'))) {
    return { ok: false, error: 'events must map event names to functions' }
  }
  const events = [...stageEventHandlers(exports).keys()].filter(e => !LIFECYCLE.has(e)).sort()
  if (events.length > MAX_STAGE_EVENTS || !events.every(e => EVENT_PATTERN.test(e))) {
    return { ok: false, error: `events must be at most ${MAX_STAGE_EVENTS} names of letters, digits and ._-` }
  }
  checked.stage.events = events
  return checked
}

/**
 * An executable's pipeline declaration, from its sidecar: `consumes`,
 * `produces` and the numbers. An executable runs one process per packet, so
 * it can be neither a source nor handle events.
 */
export function sidecarStage (sidecar: unknown): Checked {
  if (!isObj(sidecar)) return { ok: true }
  if (sidecar.source !== undefined && sidecar.source !== false) return { ok: false, error: 'an executable cannot be a source (only a module exporting an async generator can)' }
  if (sidecar.events !== undefined && !(Array.isArray(sidecar.events) && sidecar.events.length === 0)) return { ok: false, error: 'an executable cannot handle events (only a module can)' }
  return common(name => sidecar[name], false, [])
}

/** Whether a gossiped `pipeline` field is well formed (checked like the rest of a catalog entry). */
export function isStageDecl (x: unknown): x is StageDecl {
  if (!isObj(x) || typeof x.source !== 'boolean' || !Array.isArray(x.consumes) || !Array.isArray(x.events)) return false
  if (!Object.keys(x).every(k => FIELDS.has(k))) return false
  if (x.events.length > MAX_STAGE_EVENTS || !x.events.every(e => typeof e === 'string' && EVENT_PATTERN.test(e))) return false
  const checked = common(name => x[name], x.source, [])
  return checked.ok && checked.stage !== undefined && checked.stage.consumes.length === x.consumes.length
}
