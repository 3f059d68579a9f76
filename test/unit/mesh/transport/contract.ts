import { createHash, randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { PmzError, isPmzError } from '../../../../src/common/errors.js'
import { STREAM_CHUNK_BYTES, STREAM_CREDIT_CHUNKS, type Message, type Sender, type Transport } from '../../../../src/mesh/transport/index.js'
import { codeOf, collect, elapsed, pieces, sha256 } from './helpers.js'

/** How the contract suite makes transports of one implementation. */
export interface TransportFactory {
  /** A transport, not yet started, sharing `clusterKey` (default: one key for the whole suite). */
  create(peerId: string, init?: { clusterKey?: string }): Transport
  /** An address nobody listens at. */
  unreachable(): Promise<string>
  /** Called after each test, once its transports are stopped. */
  cleanup?(): Promise<void>
}

const MB = 1024 * 1024

/**
 * The Transport contract: what every implementation (ZeroMQ, in-memory)
 * must do alike. js-libp2p's interface-compliance suites are the model.
 */
export function transportContract (name: string, factory: TransportFactory): void {
  describe(`Transport contract: ${name}`, () => {
    const started: Transport[] = []
    afterEach(async () => {
      for (const t of started.splice(0)) await t.stop()
      await factory.cleanup?.()
    })

    async function pair (): Promise<[Transport, Transport]> {
      const a = factory.create(`a-${randomBytes(3).toString('hex')}`)
      const b = factory.create(`b-${randomBytes(3).toString('hex')}`)
      started.push(a, b)
      await a.start()
      await b.start()
      return [a, b]
    }

    it('answers a request and says who sent it', async () => {
      const [a, b] = await pair()
      let seen: Sender | undefined
      b.handle('echo', req => {
        seen = req.from
        return { type: 'echo.ok', n: (req.msg.n as number) + 1, bytes: req.msg.bytes }
      })
      const reply = await a.request(b.address(), { type: 'echo', n: 41, bytes: Buffer.from([1, 2, 3]) })
      expect(reply.msg.type).toBe('echo.ok')
      expect(reply.msg.n).toBe(42)
      expect(Buffer.from(reply.msg.bytes as Uint8Array)).toEqual(Buffer.from([1, 2, 3]))
      expect(reply.body).toBeUndefined()
      expect(seen).toEqual({ peerId: a.peerId, address: a.address() })
    })

    it('lets a handler request back at the sender address', async () => {
      const [a, b] = await pair()
      a.handle('whoami', () => ({ type: 'whoami.ok', peerId: a.peerId }))
      b.handle('ask', async req => {
        const back = await b.request(req.from.address, { type: 'whoami' }, { timeoutMs: 2000 })
        return { type: 'ask.ok', heard: back.msg.peerId }
      })
      const reply = await a.request(b.address(), { type: 'ask' })
      expect(reply.msg.heard).toBe(a.peerId)
    })

    it('rebuilds a handler error by its code; other throws become ERR_INTERNAL', async () => {
      const [a, b] = await pair()
      b.handle('conflict', () => { throw new PmzError('ERR_CONFLICT', 'version conflict', { details: { version: 7 } }) })
      b.handle('async.conflict', async () => { throw new PmzError('ERR_STALE_TERM', 'stale') })
      b.handle('bug', () => { throw new TypeError('oops') })
      const err = await a.request(b.address(), { type: 'conflict' }).catch((e: unknown) => e)
      expect(isPmzError(err, 'ERR_CONFLICT')).toBe(true)
      expect((err as PmzError).status).toBe(409)
      expect((err as PmzError).details).toEqual({ version: 7 })
      expect(await codeOf(a.request(b.address(), { type: 'async.conflict' }))).toBe('ERR_STALE_TERM')
      expect(await codeOf(a.request(b.address(), { type: 'bug' }))).toBe('ERR_INTERNAL')
    })

    it('answers an unknown request type with ERR_NOT_FOUND', async () => {
      const [a, b] = await pair()
      expect(await codeOf(a.request(b.address(), { type: 'no.such.type' }))).toBe('ERR_NOT_FOUND')
    })

    it('times out with ERR_TIMEOUT, and the handler signal fires', async () => {
      const [a, b] = await pair()
      let handlerSignal: AbortSignal | undefined
      b.handle('slow', async req => {
        handlerSignal = req.signal
        return await new Promise<Message>(() => {})
      })
      const t0 = performance.now()
      expect(await codeOf(a.request(b.address(), { type: 'slow' }, { timeoutMs: 200 }))).toBe('ERR_TIMEOUT')
      expect(elapsed(t0)).toBeGreaterThanOrEqual(150)
      expect(elapsed(t0)).toBeLessThan(1500)
      await vi.waitFor(() => { expect(handlerSignal?.aborted).toBe(true) }, { timeout: 3000 })
    })

    it('fails a request to an unreachable address with ERR_UNAVAILABLE or ERR_TIMEOUT, in bounded time', async () => {
      const [a] = await pair()
      const to = await factory.unreachable()
      const t0 = performance.now()
      expect(['ERR_UNAVAILABLE', 'ERR_TIMEOUT']).toContain(await codeOf(a.request(to, { type: 'x' }, { timeoutMs: 1000 })))
      expect(elapsed(t0)).toBeLessThan(2500)
    })

    it('delivers one-way messages with their sender', async () => {
      const [a, b] = await pair()
      const got: Array<{ msg: Message, from: Sender }> = []
      b.onMessage('note', (msg, from) => { got.push({ msg, from }) })
      for (let i = 0; i < 10; i++) expect(a.send(b.address(), { type: 'note', i })).toBe(true)
      await vi.waitFor(() => { expect(got).toHaveLength(10) }, { timeout: 3000 })
      expect(got.map(g => g.msg.i)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      expect(got[0].from).toEqual({ peerId: a.peerId, address: a.address() })
    })

    it('streams a 20 MB request body, bytes identical', async () => {
      const [a, b] = await pair()
      const data = randomBytes(20 * MB)
      b.handle('put', async req => {
        const got = await collect(req.body)
        return { type: 'put.ok', size: got.length, sha: sha256(got) }
      })
      const reply = await a.request(b.address(), { type: 'put' }, { body: pieces(data, [1, 1000, MB, 3 * MB, 70_000]), timeoutMs: 15_000 })
      expect(reply.msg).toMatchObject({ size: data.length, sha: sha256(data) })
    })

    it('streams a 20 MB reply body, bytes identical', async () => {
      const [a, b] = await pair()
      const data = randomBytes(20 * MB)
      b.handle('get', () => ({ msg: { type: 'get.ok', size: data.length }, body: pieces(data, [STREAM_CHUNK_BYTES, 5, 2 * MB]) }))
      const reply = await a.request(b.address(), { type: 'get' })
      expect(reply.msg).toEqual({ type: 'get.ok', size: data.length })
      const got = await collect(reply.body)
      expect(got.length).toBe(data.length)
      expect(sha256(got)).toBe(sha256(data))
    })

    it('streams a body both ways in one call', async () => {
      const [a, b] = await pair()
      const data = randomBytes(3 * MB)
      b.handle('upper', async req => {
        const got = await collect(req.body)
        return { msg: { type: 'upper.ok' }, body: pieces(createHash('sha256').update(got).digest(), [8]) }
      })
      const reply = await a.request(b.address(), { type: 'upper' }, { body: pieces(data, [100_000]) })
      expect((await collect(reply.body)).toString('hex')).toBe(sha256(data))
    })

    // A slow reader: the sender may run ahead of it by its credit (plus the chunk it holds), never more.
    const BOUND = STREAM_CREDIT_CHUNKS + 2
    const CHUNKS = 3 * STREAM_CREDIT_CHUNKS

    /**
     * A body of CHUNKS chunks, and a slow reader of it (a 5 ms pause per chunk:
     * the reader's own slowness, not a synchronisation); `maxAhead` is how far
     * the producer got ahead of the reader.
     */
    function paced (): { source: () => AsyncGenerator<Uint8Array>, read: (body: AsyncIterable<Uint8Array> | undefined) => Promise<number>, maxAhead: () => number } {
      let produced = 0
      let consumed = 0
      let maxAhead = 0
      return {
        async * source () {
          for (let i = 0; i < CHUNKS; i++) {
            produced++
            maxAhead = Math.max(maxAhead, produced - consumed)
            yield Buffer.alloc(STREAM_CHUNK_BYTES, i)
          }
        },
        async read (body) {
          for await (const chunk of body ?? []) {
            expect(chunk.byteLength).toBe(STREAM_CHUNK_BYTES)
            consumed++
            await new Promise(resolve => setTimeout(resolve, 5))
          }
          return consumed
        },
        maxAhead: () => maxAhead
      }
    }

    it('holds a request body sender to the reader pace (flow control)', async () => {
      const [a, b] = await pair()
      const p = paced()
      b.handle('slow.put', async req => ({ type: 'slow.put.ok', consumed: await p.read(req.body) }))
      const reply = await a.request(b.address(), { type: 'slow.put' }, { body: p.source(), timeoutMs: 10_000 })
      expect(reply.msg.consumed).toBe(CHUNKS)
      expect(p.maxAhead()).toBeGreaterThan(0)
      expect(p.maxAhead()).toBeLessThanOrEqual(BOUND)
    })

    it('holds a reply body sender to the reader pace (flow control)', async () => {
      const [a, b] = await pair()
      const p = paced()
      b.handle('slow.get', () => ({ msg: { type: 'slow.get.ok' }, body: p.source() }))
      const reply = await a.request(b.address(), { type: 'slow.get' })
      expect(await p.read(reply.body)).toBe(CHUNKS)
      expect(p.maxAhead()).toBeLessThanOrEqual(BOUND)
    })

    it('closes the sender source when the reader of a reply body stops early', async () => {
      const [a, b] = await pair()
      let closed = false
      async function * endless (): AsyncGenerator<Uint8Array> {
        try {
          for (;;) yield Buffer.alloc(64 * 1024)
        } finally {
          closed = true
        }
      }
      b.handle('endless', () => ({ msg: { type: 'endless.ok' }, body: endless() }))
      const reply = await a.request(b.address(), { type: 'endless' })
      let n = 0
      for await (const _ of reply.body ?? []) if (++n === 5) break
      await vi.waitFor(() => { expect(closed).toBe(true) }, { timeout: 3000 })
    })

    it('rejects with ERR_ABORTED when the signal aborts while waiting', async () => {
      const [a, b] = await pair()
      let started = false
      b.handle('hang', async () => {
        started = true
        return await new Promise<Message>(() => {})
      })
      const ac = new AbortController()
      const pending = codeOf(a.request(b.address(), { type: 'hang' }, { signal: ac.signal, timeoutMs: 10_000 }))
      await vi.waitFor(() => { expect(started).toBe(true) }, { timeout: 3000 })
      const t0 = performance.now()
      ac.abort()
      expect(await pending).toBe('ERR_ABORTED')
      expect(elapsed(t0)).toBeLessThan(500)
      expect(await codeOf(a.request(b.address(), { type: 'hang' }, { signal: ac.signal }))).toBe('ERR_ABORTED')
    })

    it('rejects pending requests with ERR_SHUTTING_DOWN on stop, and refuses new ones', async () => {
      const [a, b] = await pair()
      let handlerSignal: AbortSignal | undefined
      b.handle('hang', async req => {
        handlerSignal = req.signal
        return await new Promise<Message>(() => {})
      })
      const pending = codeOf(a.request(b.address(), { type: 'hang' }, { timeoutMs: 10_000 }))
      await vi.waitFor(() => { expect(handlerSignal).toBeDefined() }, { timeout: 3000 })
      await a.stop()
      expect(await pending).toBe('ERR_SHUTTING_DOWN')
      expect(await codeOf(a.request(b.address(), { type: 'hang' }))).toBe('ERR_SHUTTING_DOWN')
      expect(a.send(b.address(), { type: 'note' })).toBe(false)
      await a.stop() // idempotent
      await b.stop()
      expect(handlerSignal?.aborted).toBe(true)
    })

    it('answers 1000 concurrent requests, each with its own reply', async () => {
      const [a, b] = await pair()
      b.handle('inc', async req => {
        await new Promise(resolve => setImmediate(resolve))
        return { type: 'inc.ok', n: (req.msg.n as number) + 1 }
      })
      const replies = await Promise.all(Array.from({ length: 1000 }, async (_, n) => await a.request(b.address(), { type: 'inc', n }, { timeoutMs: 10_000 })))
      expect(replies.map(r => r.msg.n)).toEqual(Array.from({ length: 1000 }, (_, n) => n + 1))
    })

    it('removes handlers and listeners with the returned functions', async () => {
      const [a, b] = await pair()
      const off = b.handle('temp', () => ({ type: 'temp.ok' }))
      expect((await a.request(b.address(), { type: 'temp' })).msg.type).toBe('temp.ok')
      off()
      expect(await codeOf(a.request(b.address(), { type: 'temp' }))).toBe('ERR_NOT_FOUND')
    })
  })
}
