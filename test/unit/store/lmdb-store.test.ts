import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { open } from 'lmdb'
import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { createStore, type Store } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const DAY = 86_400_000
const CHUNK = 64 * 1024
const log = createLogger({ level: 'silent' })

async function body (stored: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(stored)) return stored
  const parts: Buffer[] = []
  for await (const c of stored) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return isPmzError(err) ? err.code : String(err)
  }
}

describe('LmdbStore', () => {
  const open_: Store[] = []
  afterEach(async () => {
    for (const s of open_.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function makeStore (dir = tempDir('pmz-store-'), clock = new ManualClock()): Promise<{ store: Store, clock: ManualClock, dir: string }> {
    const store = createStore({ clock, log }, { dir, peerId: 'p1', chunkBytes: CHUNK, sweepIntervalMs: 60_000, tombstoneGraceMs: 7 * DAY })
    await store.start()
    open_.push(store)
    return { store, clock, dir }
  }

  it('round-trips values of 0, 1, exactly one chunk and many chunks', async () => {
    const { store } = await makeStore()
    for (const size of [0, 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17]) {
      const bytes = randomBytes(size)
      const meta = await store.put(`/v/${size}`, Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]))
      expect(meta.size).toBe(size)
      expect(meta.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
      const got = await store.get(`/v/${size}`)
      expect(Buffer.isBuffer(got.body)).toBe(size <= CHUNK)
      expect((await body(got.body)).equals(bytes)).toBe(true)
    }
  })

  it('refuses a second ifAbsent put of a live key, even when both race', async () => {
    const { store } = await makeStore()
    const results = await Promise.all([0, 1, 2, 3].map(async i =>
      await codeOf(store.put('/race', Readable.from([Buffer.from(`v${i}`)]), { ifAbsent: true }))))
    expect(results.filter(r => r === undefined)).toHaveLength(1)
    expect(results.filter(r => r === 'ERR_CONFLICT')).toHaveLength(3)
    expect((await store.stats()).entries).toBe(1)
  })

  it('stops reading at maxBytes and leaves nothing behind', async () => {
    const { store } = await makeStore()
    const code = await codeOf(store.put('/big', Readable.from([randomBytes(3 * CHUNK), randomBytes(CHUNK)]), { maxBytes: 3 * CHUNK + 10 }))
    expect(code).toBe('ERR_TOO_LARGE')
    expect(await store.stat('/big')).toBeUndefined()
    expect((await store.stats()).entries).toBe(0)
  })

  it('expires temporal keys at upload + N days, and the sweep removes them', async () => {
    const { store, clock } = await makeStore()
    await store.put('/t/one', Readable.from([Buffer.from('x')]), { temporalDays: 1 })
    await store.put('/t/zero', Readable.from([Buffer.from('x')]), { temporalDays: 0 })
    await store.put('/t/never', Readable.from([Buffer.from('x')]), { temporalDays: -1 })
    expect(await store.stat('/t/zero')).toBeUndefined()
    expect((await store.stats()).entries).toBe(2)

    clock.advance(DAY - 1)
    expect(await store.stat('/t/one')).toBeDefined()
    clock.advance(1)
    // Not served as soon as it expires, before any sweep.
    expect(await codeOf(store.get('/t/one'))).toBe('ERR_NOT_FOUND')
    expect((await store.list()).map(m => m.key)).toEqual(['/t/never'])
    expect((await store.stats()).entries).toBe(1)

    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    expect((await store.stats()).entries).toBe(1)
    // An expired key can be written again.
    await store.put('/t/one', Readable.from([Buffer.from('y')]), { ifAbsent: true })
    expect((await body((await store.get('/t/one')).body)).toString()).toBe('y')
  })

  it('deletes with a tombstone that the sweep collects after the grace period', async () => {
    const { store, clock, dir } = await makeStore()
    await store.put('/d', Readable.from([randomBytes(2 * CHUNK)]))
    await store.delete('/d')
    expect(await codeOf(store.delete('/d'))).toBe('ERR_NOT_FOUND')
    expect(await codeOf(store.get('/d'))).toBe('ERR_NOT_FOUND')
    expect((await store.stats()).entries).toBe(0)

    const raw = (): { meta: unknown, chunks: number } => {
      const env = open({ path: dir, readOnly: true })
      const meta = env.openDB({ name: 'meta' }).get('/d')
      const chunks = env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' }).getKeysCount()
      void env.close()
      return { meta, chunks }
    }
    expect(raw()).toMatchObject({ meta: { deleted: true }, chunks: 0 })
    clock.advance(7 * DAY - 60_000)
    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    expect(raw().meta).toMatchObject({ deleted: true })
    clock.advance(60_000)
    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    expect(raw().meta).toBeUndefined()
  })

  it('orders the versions of one key by HLC', async () => {
    const { store, clock } = await makeStore()
    const v1 = await store.put('/h', Readable.from([Buffer.from('1')]))
    clock.set(clock.now() - 10_000) // the wall clock steps back
    await store.delete('/h')
    const v2 = await store.put('/h', Readable.from([Buffer.from('2')]))
    expect(v2.version > v1.version).toBe(true)
  })

  it('removes the chunks of an interrupted upload at the next start', async () => {
    const dir = tempDir('pmz-store-')
    const { store } = await makeStore(dir)
    // An upload whose source dies midway, after chunks were written.
    const broken = new Readable({ read () {} })
    const pending = store.put('/broken', broken)
    broken.push(randomBytes(3 * CHUNK))
    await new Promise(resolve => setImmediate(resolve))
    broken.destroy(new Error('client went away'))
    expect(await codeOf(pending)).toMatch(/client went away/)
    await store.stop()

    const again = await makeStore(dir)
    expect(await again.store.stat('/broken')).toBeUndefined()
    const env = open({ path: dir, readOnly: true })
    expect(env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' }).getKeysCount()).toBe(0)
    expect(env.openDB({ name: 'pending', keyEncoding: 'binary' }).getKeysCount()).toBe(0)
    await env.close()
  })

  it('ends a stream with ERR_CORRUPT, never short, when a chunk was damaged', async () => {
    const dir = tempDir('pmz-store-')
    const { store } = await makeStore(dir)
    await store.put('/c', Readable.from([randomBytes(3 * CHUNK)]))
    await store.stop()
    const env = open({ path: dir })
    const chunks = env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' })
    const second = [...chunks.getKeys()][1] as Buffer
    await chunks.put(second, randomBytes(CHUNK))
    await env.close()

    const again = await makeStore(dir)
    const { body: stream } = await again.store.get('/c')
    expect(await codeOf(body(stream))).toBe('ERR_CORRUPT')
  })

  it('lists live keys by prefix with paging', async () => {
    const { store } = await makeStore()
    for (const k of ['/a/1', '/a/2', '/a/3', '/b/1']) await store.put(k, Readable.from([Buffer.from(k)]))
    await store.delete('/a/2')
    expect((await store.list({ prefix: '/a/' })).map(m => m.key)).toEqual(['/a/1', '/a/3'])
    expect((await store.list({ prefix: '/a/', limit: 1 })).map(m => m.key)).toEqual(['/a/1'])
    expect((await store.list({ prefix: '/a/', after: '/a/1' })).map(m => m.key)).toEqual(['/a/3'])
    expect((await store.list()).map(m => m.key)).toEqual(['/a/1', '/a/3', '/b/1'])
  })
})

