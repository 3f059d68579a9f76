// The child process of a module seed (forked by module-pool.ts): imports the
// seed, runs one job at a time and answers over IPC. It never outlives the
// parent (IPC disconnect) and dies on SIGTERM after aborting ctx.signal.
import { pathToFileURL } from 'node:url'
import { format } from 'node:util'
import { loadErrorMessage } from '../../seeds/seed-loader.js'
import type { ChildMessage, ParentMessage, StoreOp } from './module-messages.js'

type RunMessage = Extract<ParentMessage, { type: 'run' }>
type Job = (args: unknown, ctx: unknown) => unknown

let current: { id: number, controller: AbortController } | undefined
let nextCall = 1
const calls = new Map<number, { resolve(v: unknown): void, reject(e: Error): void }>()

function send (msg: ChildMessage): void {
  if (process.connected) process.send?.(msg)
}

function logLine (level: 'info' | 'warn' | 'error', args: unknown[]): void {
  if (current === undefined) return
  send({ type: 'log', id: current.id, level, text: format(...args) })
}

// console output belongs to the running job's log, in order with ctx.log.
console.log = console.info = console.debug = (...a: unknown[]) => logLine('info', a)
console.warn = (...a: unknown[]) => logLine('warn', a)
console.error = (...a: unknown[]) => logLine('error', a)

function findJob (mod: Record<string, unknown>): Job | undefined {
  const d = mod.default as Record<string, unknown> | Job | undefined
  if (typeof d === 'function') return d as Job
  if (d !== null && typeof d === 'object' && typeof d.run === 'function') return (d.run as Job).bind(d)
  if (typeof mod.run === 'function') return mod.run as Job
  return undefined
}

function errorText (err: unknown): string {
  if (err instanceof Error) return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`.split('\n')[0].slice(0, 1000)
  return String(err).slice(0, 1000)
}

type Request = Extract<ChildMessage, { type: 'store' | 'emit' }>
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/** A request to the parent; settles with its reply ('store:reply' or 'emit:reply'). */
function request (msg: DistributiveOmit<Request, 'call'>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const call = nextCall++
    calls.set(call, { resolve, reject })
    try {
      send({ ...msg, call } as Request)
    } catch (err) {
      // Not cloneable (a function in the payload, say): the job's call fails, not the child.
      calls.delete(call)
      reject(Object.assign(new Error(`ctx.${msg.type}: ${errorText(err)}`), { code: 'ERR_BAD_REQUEST' }))
    }
  })
}

function storeCall (id: number, op: StoreOp, key?: string, body?: Uint8Array, options?: Record<string, unknown>): Promise<unknown> {
  return request({ type: 'store', id, op, key, body, options })
}

/** `ctx.emit(tag, payload, {key, priority, headers})`: resolves with the packet id once a consuming stage has it. */
function makeEmit (id: number): (tag: string, payload: unknown, options?: Record<string, unknown>) => Promise<string> {
  return async (tag, payload, options) => await request({ type: 'emit', id, tag, payload, options }) as string
}

function toBytes (body: unknown): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body)
  if (body instanceof Uint8Array) return body
  throw new TypeError('ctx.store.put takes a string, a Buffer or a Uint8Array')
}

function makeStore (id: number): Record<string, (...a: never[]) => Promise<unknown>> {
  return {
    get: async (key: string) => {
      const v = await storeCall(id, 'get', key) as { meta: unknown, body: Uint8Array }
      return { meta: v.meta, body: Buffer.from(v.body.buffer, v.body.byteOffset, v.body.byteLength) }
    },
    put: async (key: string, body: unknown, options?: Record<string, unknown>) => await storeCall(id, 'put', key, toBytes(body), options),
    stat: async (key: string) => await storeCall(id, 'stat', key),
    list: async (options?: Record<string, unknown>) => await storeCall(id, 'list', undefined, undefined, options),
    delete: async (key: string) => await storeCall(id, 'delete', key)
  }
}

async function importSeed (path: string, hash: string): Promise<Record<string, unknown>> {
  try {
    return await import(`${pathToFileURL(path).href}?pmz-seed=${hash.slice(0, 16)}`) as Record<string, unknown>
  } catch (err) {
    throw new Error(`cannot load the seed: ${loadErrorMessage(err)}`)
  }
}

async function run (msg: RunMessage): Promise<void> {
  const controller = new AbortController()
  current = { id: msg.id, controller }
  let reply: ChildMessage
  try {
    const mod = await importSeed(msg.path, msg.hash)
    const job = findJob(mod)
    if (job === undefined) throw new Error('the module exports no job: a default function or a run function')
    const ctx = {
      jobId: msg.jobId,
      attempt: msg.attempt,
      peerId: msg.peerId,
      dataFile: msg.dataFile,
      schedule: msg.schedule,
      signal: controller.signal,
      log: {
        info: (...a: unknown[]) => logLine('info', a),
        warn: (...a: unknown[]) => logLine('warn', a),
        error: (...a: unknown[]) => logLine('error', a)
      },
      progress: (fraction: number, text?: string) => send({ type: 'progress', id: msg.id, fraction: Number(fraction), text: text === undefined ? undefined : String(text) }),
      store: makeStore(msg.id),
      emit: makeEmit(msg.id)
    }
    const result = await job(msg.args, ctx)
    const json = JSON.stringify(result)
    reply = { type: 'result', id: msg.id, ok: true, output: json === undefined ? null : JSON.parse(json) }
  } catch (err) {
    reply = { type: 'result', id: msg.id, ok: false, error: errorText(err) }
  }
  current = undefined
  send(reply)
}

process.on('message', (msg: ParentMessage) => {
  if (msg.type === 'run') {
    void run(msg).catch(err => send({ type: 'result', id: msg.id, ok: false, error: errorText(err) }))
  } else if (msg.type === 'store:reply' || msg.type === 'emit:reply') {
    const pending = calls.get(msg.call)
    calls.delete(msg.call)
    if (pending === undefined) return
    if (msg.ok) pending.resolve(msg.value)
    else pending.reject(Object.assign(new Error(msg.message), { code: msg.code }))
  }
})
process.on('SIGTERM', () => {
  current?.controller.abort(new Error('the job was cancelled or timed out'))
  setImmediate(() => process.exit(143))
})
process.on('disconnect', () => process.exit(0))
// A rejection nobody awaited belongs to the running job: fail it rather than the child.
// The child is not reused after that (`retire`): the job may still be running.
process.on('unhandledRejection', err => {
  const msg: ChildMessage = { type: 'result', id: current?.id ?? 0, ok: false, error: `unhandled rejection: ${errorText(err)}`, retire: true }
  current = undefined
  process.send?.(msg, () => process.exit(1))
})
