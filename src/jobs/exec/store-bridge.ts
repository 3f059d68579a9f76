import type { Readable } from 'node:stream'
import { isPmzError } from '../../common/errors.js'
import type { JobStore } from './types.js'
import type { ChildMessage, ParentMessage } from './module-messages.js'

type StoreRequest = Extract<ChildMessage, { type: 'store' }>

async function readAll (body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

async function * once (bytes: Uint8Array): AsyncIterable<Uint8Array> { yield bytes }

async function perform (store: JobStore, req: StoreRequest): Promise<unknown> {
  // A SeedStore checks the key the child (user code) names.
  const key = req.key ?? ''
  switch (req.op) {
    case 'get': {
      const v = await store.get(key)
      return { meta: v.meta, body: await readAll(v.body) }
    }
    case 'put': return await store.put(key, once(req.body ?? new Uint8Array(0)), { temporalDays: req.options?.temporalDays as number | undefined, contentType: req.options?.contentType as string | undefined })
    case 'stat': return await store.stat(key) ?? null
    case 'list': return await store.list({ prefix: req.options?.prefix as string | undefined, after: req.options?.after as string | undefined, limit: req.options?.limit as number | undefined })
    case 'delete': await store.delete(key); return null
  }
}

/**
 * Answers a module child's `ctx.store` call from the parent's store. Errors
 * cross as `{code, message}`; without a store every call fails with
 * ERR_UNAVAILABLE.
 */
export async function answerStoreCall (store: JobStore | undefined, req: StoreRequest): Promise<ParentMessage> {
  if (store === undefined) {
    return { type: 'store:reply', call: req.call, ok: false, code: 'ERR_UNAVAILABLE', message: 'ctx.store is not available: this runner has no store' }
  }
  try {
    return { type: 'store:reply', call: req.call, ok: true, value: await perform(store, req) }
  } catch (err) {
    const code = isPmzError(err) ? err.code : 'ERR_INTERNAL'
    return { type: 'store:reply', call: req.call, ok: false, code, message: err instanceof Error ? err.message : String(err) }
  }
}
