// A module stage's side of the instance protocol (stage-messages.ts),
// whatever carries it: a child process (stage-child.ts) or a worker thread
// (stage-thread.ts). It imports the seed, runs `setup(ctx)` once, then
// packets one at a time, custom events and, for a source, pulls of its
// generator; `cleanup(ctx)` on a drain, then it ends.
import { AsyncLocalStorage } from 'node:async_hooks'
import { pathToFileURL } from 'node:url'
import { format } from 'node:util'
import { loadErrorMessage } from '../../seeds/seed-loader.js'
import { stageEventHandlers, stageRunOf } from '../../seeds/seed-stage.js'
import { asBuffer, checkPayload, emittedOf, payloadsOf } from './payloads.js'
import { compactReplies, expandCall } from './call-columns.js'
import { IPC_BATCH_MAX } from './constants.js'
import type { ChildMessage, Emitted, ParentMessage } from './stage-messages.js'
import { storeClient, answered } from './store-client.js'

/** What carries the messages between the runtime and its ModuleStageInstance. */
export interface StagePort {
  /** Whether messages can still be sent. */
  isOpen(): boolean
  /** Sends one message; throws (synchronously) when structured clone refuses it. */
  post(msg: ChildMessage): void
  /** Sends one last message (when given), then ends the instance with `code` once it was written. */
  exit(code: number, last?: ChildMessage): void
  onMessage(fn: (msg: ParentMessage) => void): void
}

type Fn = (...a: unknown[]) => unknown
type SetupMessage = Extract<ParentMessage, { type: 'setup' }>

/** Where `ctx.emit` puts what it is given: the call under way (a run, an event, the source). */
interface Collector { emitted: Emitted[] }

/** Set once by runStage. */
let port: StagePort
const calls = new AsyncLocalStorage<Collector>()
const controller = new AbortController()
/** Runs and events, one at a time. */
let lane: Promise<void> = Promise.resolve()
/** Pulls of the source, one at a time, beside the runs. */
let pullLane: Promise<void> = Promise.resolve()
let stage: {
  produces?: string
  run?: Fn
  handlers: Map<string, Fn>
  source?: Fn
  cleanup?: Fn
  ctx: Record<string, unknown>
} | undefined
let warnedDropped = false

/** Replies of this turn not sent yet: they leave together at its end (one IPC message). */
let outgoing: ChildMessage[] = []
let flushQueued = false

/** Replies wait for the end of the turn; anything else goes at once, after them (order kept). */
function send (msg: ChildMessage): void {
  if (!port.isOpen()) return
  outgoing.push(msg)
  if ((msg.type !== 'result' && msg.type !== 'pulled') || outgoing.length >= IPC_BATCH_MAX) flush()
  else if (!flushQueued) {
    flushQueued = true
    setImmediate(flush)
  }
}

function flush (): void {
  flushQueued = false
  const msgs = outgoing
  if (msgs.length === 0 || !port.isOpen()) return
  outgoing = []
  const compact = compactReplies(msgs)
  if (compact.length === 1 && compact[0].type !== 'results') { sendNow(compact[0]); return }
  try {
    port.post(compact.length === 1 ? compact[0] : { type: 'batch', msgs: compact })
  } catch {
    for (const m of msgs) sendNow(m)
  }
}

/** Sends what waits, then exits once it was written (a bare process.exit could cut it). */
export function exitAfterFlush (code: number): void {
  flushQueued = false
  const msgs = outgoing
  outgoing = []
  if (!port.isOpen() || msgs.length === 0) port.exit(code)
  else port.exit(code, msgs.length === 1 ? msgs[0] : { type: 'batch', msgs })
}

function sendNow (msg: ChildMessage): void {
  try {
    port.post(msg)
  } catch (err) {
    // A payload structured clone cannot carry (a function deep inside an object): the call fails, not the child.
    const error = `cannot send what the stage produced: ${errorText(err)}`
    if (msg.type === 'result') sendNow({ type: 'result', id: msg.id, ok: false, emitted: [], error })
    else if (msg.type === 'pulled') sendNow({ type: 'pulled', id: msg.id, items: [], done: msg.done, error })
    else throw err
  }
}

function log (level: 'info' | 'warn' | 'error', args: unknown[]): void {
  send({ type: 'log', level, text: format(...args) })
}

console.log = console.info = console.debug = (...a: unknown[]) => log('info', a)
console.warn = (...a: unknown[]) => log('warn', a)
console.error = (...a: unknown[]) => log('error', a)

function errorText (err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`.split('\n')[0].slice(0, 1000)
  return String(err).slice(0, 1000)
}

/** A function of the module: the named export, else the default export object's (bound to it). */
function method (mod: Record<string, unknown>, name: string): Fn | undefined {
  if (typeof mod[name] === 'function') return mod[name] as Fn
  const def = mod.default as Record<string, unknown> | undefined
  if (def !== null && typeof def === 'object' && typeof def[name] === 'function') return (def[name] as Fn).bind(def)
  return undefined
}

async function setup (msg: SetupMessage): Promise<void> {
  let mod: Record<string, unknown>
  try {
    mod = await import(`${pathToFileURL(msg.path).href}?pmz-seed=${msg.hash.slice(0, 16)}`) as Record<string, unknown>
  } catch (err) {
    throw new Error(`cannot load the seed: ${loadErrorMessage(err)}`)
  }
  const ctx: Record<string, unknown> = {
    stage: msg.stage,
    peerId: msg.peerId,
    signal: controller.signal,
    log: { info: (...a: unknown[]) => log('info', a), warn: (...a: unknown[]) => log('warn', a), error: (...a: unknown[]) => log('error', a) },
    store: storeClient(send),
    emit: (tag: unknown, payload: unknown, opts?: unknown) => {
      const into = calls.getStore()
      if (into === undefined) throw new Error('ctx.emit works only while run, an event handler or the source runs')
      into.emitted.push(emittedOf(tag, asBuffer(payload), opts))
    }
  }
  const handlers = stageEventHandlers(mod) as Map<string, Fn>
  stage = { produces: msg.produces, run: stageRunOf(mod) as Fn | undefined, handlers, source: method(mod, 'source'), cleanup: method(mod, 'cleanup'), ctx }
  await method(mod, 'setup')?.(ctx)
}

/** Calls `fn` with ctx.emit collecting into a new collector; what it returns goes out under `produces`. */
async function collect (fn: () => unknown): Promise<Emitted[]> {
  const into: Collector = { emitted: [] }
  const returned = await calls.run(into, fn)
  const payloads = await calls.run(into, async () => await payloadsOf(returned))
  if (payloads.length === 0) return into.emitted
  if (stage?.produces === undefined) {
    if (!warnedDropped) log('warn', ['the stage declares no produces: what run returns is dropped (use ctx.emit)'])
    warnedDropped = true
    return into.emitted
  }
  const produces = stage.produces
  return [...into.emitted, ...payloads.map(payload => ({ tag: produces, payload: asBuffer(payload) }))]
}

function onLane (id: number, fn: () => unknown): void {
  lane = lane.then(async () => {
    try {
      send({ type: 'result', id, ok: true, emitted: await collect(fn) })
    } catch (err) {
      send({ type: 'result', id, ok: false, emitted: [], error: errorText(err) })
    }
  })
}

// The source: its generator is created on the first pull and advanced only by pulls (back-pressure).
const sourceCollector: Collector = { emitted: [] }
let iterator: AsyncIterator<unknown> | undefined
let pending: Promise<IteratorResult<unknown>> | undefined
let ended = false
const NOT_YET = Symbol('not yet')

/**
 * Up to `max` items: waits for the first, then takes more while they come at
 * once. A `next()` not settled by then is kept for the next pull (it counts
 * against that pull's `max`), so the generator never runs ahead of what was
 * asked for.
 */
async function pull (max: number): Promise<{ items: unknown[], done: boolean }> {
  const src = stage?.source
  if (src === undefined) throw new Error('the stage exports no source')
  iterator ??= calls.run(sourceCollector, () => {
    const it = src(stage?.ctx) as AsyncIterable<unknown> | Iterable<unknown> | null
    if (it !== null && typeof it === 'object' && Symbol.asyncIterator in it) return it[Symbol.asyncIterator]()
    if (it !== null && typeof it === 'object' && Symbol.iterator in it) return (it[Symbol.iterator]() as unknown) as AsyncIterator<unknown>
    throw new TypeError('source(ctx) must return an async generator')
  })
  const items: unknown[] = []
  /** Settles at the end of the turn the first item came in (one timer per pull, not one per item). */
  let turnOver: Promise<typeof NOT_YET> | undefined
  while (!ended && items.length < max) {
    const next = pending ?? calls.run(sourceCollector, async () => await (iterator as AsyncIterator<unknown>).next())
    pending = undefined
    if (items.length > 0) turnOver ??= new Promise<typeof NOT_YET>(resolve => setImmediate(() => resolve(NOT_YET)))
    const r = turnOver === undefined ? await next : await Promise.race([next, turnOver])
    if (r === NOT_YET) {
      // Handled here so that a rejection before the next pull does not end the child; that pull sees it.
      next.catch(() => {})
      pending = next
      break
    }
    if (r.done === true) ended = true
    else if (r.value !== undefined && r.value !== null) {
      checkPayload(r.value)
      items.push(r.value)
    }
  }
  return { items, done: ended }
}

function onPull (id: number, max: number): void {
  pullLane = pullLane.then(async () => {
    try {
      const got = await pull(max)
      const items: Emitted[] = sourceCollector.emitted.splice(0)
      for (const p of got.items) items.push({ tag: stage?.produces as string, payload: asBuffer(p) })
      send({ type: 'pulled', id, items, done: got.done })
    } catch (err) {
      // A generator that threw is over.
      ended = true
      send({ type: 'pulled', id, items: sourceCollector.emitted.splice(0), done: true, error: errorText(err) })
    }
  })
}

async function drain (): Promise<void> {
  controller.abort(new Error('the stage instance is stopping'))
  await Promise.all([lane, pullLane])
  try {
    // A generator waiting on a next() that never settled cannot be returned; its abort signal fired.
    if (iterator !== undefined && pending === undefined && !ended) await iterator.return?.()
  } catch (err) {
    log('warn', ['the source failed to end:', errorText(err)])
  }
  try {
    if (stage !== undefined) await stage.cleanup?.(stage.ctx)
  } catch (err) {
    log('error', ['cleanup failed:', errorText(err)])
  }
  exitAfterFlush(0)
}

function onMessage (msg: ParentMessage): void {
  switch (msg.type) {
    case 'batch':
      for (const m of msg.msgs) onMessage(m)
      break
    case 'runs':
      for (const m of expandCall(msg)) onMessage(m)
      break
    case 'setup':
      setup(msg).then(() => send({ type: 'ready' }), err => {
        port.exit(1, port.isOpen() ? { type: 'setup-failed', error: errorText(err) } : undefined)
      })
      break
    case 'run':
      onLane(msg.id, () => {
        if (stage?.run === undefined) throw new Error('the stage exports no run')
        const packet = msg.packet
        if (packet.payload !== undefined) packet.payload = asBuffer(packet.payload)
        return stage.run(packet, stage.ctx)
      })
      break
    case 'event':
      onLane(msg.id, () => {
        const handler = stage?.handlers.get(msg.name.toLowerCase())
        if (handler === undefined) throw new Error(`the stage handles no event ${msg.name}`)
        return handler(msg.args, stage?.ctx)
      })
      break
    case 'pull': onPull(msg.id, msg.max); break
    case 'stop': void drain(); break
    case 'store:reply': answered(msg); break
  }
}
/**
 * Serves the instance protocol over `p`. A rejection nobody awaited leaves
 * the instance in an unknown state: it ends (code 1) and the engine starts
 * another.
 */
export function runStage (p: StagePort): void {
  port = p
  port.onMessage(onMessage)
  process.on('unhandledRejection', err => {
    if (port.isOpen()) outgoing.push({ type: 'log', level: 'error', text: `unhandled rejection: ${errorText(err)}` })
    exitAfterFlush(1)
  })
}

/** Aborts ctx.signal (the instance is being killed). */
export function abortStage (reason: string): void {
  controller.abort(new Error(reason))
}
