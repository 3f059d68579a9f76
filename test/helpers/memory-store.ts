import { createHash } from 'node:crypto'
import { notFound } from '../../src/common/errors.js'
import type { JobStore } from '../../src/jobs/index.js'

/** An in-memory store with the shape a job's or a stage's ctx.store reaches. */
export function memoryStore (): JobStore {
  const values = new Map<string, Buffer>()
  const meta = (key: string): Record<string, unknown> => {
    const body = values.get(key)!
    return { key, size: body.length, sha256: createHash('sha256').update(body).digest('hex'), contentType: 'application/octet-stream', created: 0, expires: null, version: { wall: 0, logical: 0, node: 'x' } }
  }
  const store = {
    async put (key: string, body: AsyncIterable<Uint8Array>) {
      const chunks: Uint8Array[] = []
      for await (const c of body) chunks.push(c)
      values.set(key, Buffer.concat(chunks))
      return meta(key)
    },
    async get (key: string) {
      if (!values.has(key)) throw notFound(`no key ${key}`)
      return { meta: meta(key), body: values.get(key)! }
    },
    async stat (key: string) { return values.has(key) ? meta(key) : undefined },
    async list (o: { prefix?: string } = {}) { return [...values.keys()].filter(k => k.startsWith(o.prefix ?? '')).map(meta) },
    async delete (key: string) { if (!values.delete(key)) throw notFound(`no key ${key}`) }
  }
  return store as unknown as JobStore
}
