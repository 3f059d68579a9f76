// `ctx.store` inside a stage child: each call goes to the parent, which
// answers from the peer's store (jobs/exec/store-bridge.ts), as jobs do.
import type { StoreOp } from '../../jobs/exec/module-messages.js'
import type { ChildMessage, ParentMessage } from './stage-messages.js'

type Reply = Extract<ParentMessage, { type: 'store:reply' }>

let nextCall = 1
const calls = new Map<number, { resolve(v: unknown): void, reject(e: Error): void }>()

/** Settles the call a `store:reply` answers. */
export function answered (msg: Reply): void {
  const pending = calls.get(msg.call)
  calls.delete(msg.call)
  if (pending === undefined) return
  if (msg.ok) pending.resolve(msg.value)
  else pending.reject(Object.assign(new Error(msg.message), { code: msg.code }))
}

function toBytes (body: unknown): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body)
  if (body instanceof Uint8Array) return body
  throw new TypeError('ctx.store.put takes a string, a Buffer or a Uint8Array')
}

/** `ctx.store`: get, put, stat, list, delete, as a job's ctx.store has them. */
export function storeClient (send: (msg: ChildMessage) => void): Record<string, (...a: never[]) => Promise<unknown>> {
  const call = async (op: StoreOp, key?: string, body?: Uint8Array, options?: Record<string, unknown>): Promise<unknown> => await new Promise((resolve, reject) => {
    const id = nextCall++
    calls.set(id, { resolve, reject })
    send({ type: 'store', id: 0, call: id, op, key, body, options })
  })
  return {
    get: async (key: string) => {
      const v = await call('get', key) as { meta: unknown, body: Uint8Array }
      return { meta: v.meta, body: Buffer.from(v.body.buffer, v.body.byteOffset, v.body.byteLength) }
    },
    put: async (key: string, body: unknown, options?: Record<string, unknown>) => await call('put', key, toBytes(body), options),
    stat: async (key: string) => await call('stat', key),
    list: async (options?: Record<string, unknown>) => await call('list', undefined, undefined, options),
    delete: async (key: string) => await call('delete', key)
  }
}
