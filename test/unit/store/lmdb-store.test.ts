import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { open } from 'lmdb'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/common/logger.js'
import { chunkKey } from '../../../src/store/chunk-reader.js'
import { asKey, createLocalStore, createStore, type ReplicaStore, type Store, type ValueRecord } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'
import { codeOf } from '../../helpers/errors.js'

const DAY = 86_400_000
const CHUNK = 64 * 1024
const log = createLogger({ level: 'silent' })

async function body (stored: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(stored)) return stored
  const parts: Buffer[] = []
  for await (const c of stored) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

/** The content files under a store's `blobs/`, as paths relative to it. */
function blobFiles (dir: string): string[] {
  const root = join(dir, 'blobs')
  if (!existsSync(root)) return []
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter(e => e.isFile()).map(e => join(e.parentPath, e.name).slice(root.length + 1))
}

describe.each(['flush', 'os'] as const)('LmdbStore, sync=%s', sync => {
  const open_: Store[] = []
  afterEach(async () => {
    for (const s of open_.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function makeStore (dir = tempDir('pmz-store-'), clock = new ManualClock(), replica = false): Promise<{ store: Store, clock: ManualClock, dir: string }> {
    const init = { dir, peerId: 'p1', chunkBytes: CHUNK, sweepIntervalMs: 60_000, tombstoneGraceMs: 7 * DAY, sync }
    const store = replica ? createLocalStore({ clock, log }, init) : createStore({ clock, log }, init)
    await store.start()
    open_.push(store)
    return { store, clock, dir }
  }

  it('round-trips values of 0, 1, exactly one chunk and many chunks', async () => {
    const { store, dir } = await makeStore()
    for (const size of [0, 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17]) {
      const bytes = randomBytes(size)
      const meta = await store.put(asKey(`/v/${size}`), Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]))
      expect(meta.size).toBe(size)
      expect(meta.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
      const got = await store.get(asKey(`/v/${size}`))
      expect(Buffer.isBuffer(got.body)).toBe(size <= CHUNK)
      expect((await body(got.body)).equals(bytes)).toBe(true)
    }
    // Only the two values larger than one chunk went to files, the rest stayed in LMDB.
    expect(blobFiles(dir)).toHaveLength(2)
  })

  it('gives each small value read bytes of its own, untouched by the reads after it', async () => {
    const { store } = await makeStore()
    const values = [1, 100, 1024, 5000, CHUNK].map(size => randomBytes(size))
    for (const [i, v] of values.entries()) await store.put(asKey(`/own/${i}`), Readable.from([v]))
    // lmdb-js reads into one reused buffer: a body that were a view of it would show the last value read.
    const bodies = await Promise.all(values.map(async (_, i) => (await store.get(asKey(`/own/${i}`))).body as Buffer))
    for (const [i, v] of values.entries()) expect(bodies[i].equals(v)).toBe(true)
  })

  it('stores a value larger than one chunk in its own file, whatever its size hint said', async () => {
    const { store, dir } = await makeStore()
    const env = (): { chunks: number, blobs: number } => {
      const raw = open({ path: dir, readOnly: true })
      const out = {
        chunks: raw.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' }).getKeysCount(),
        blobs: raw.openDB({ name: 'blobs', keyEncoding: 'binary' }).getKeysCount()
      }
      void raw.close()
      return out
    }
    const cases: Array<[string, number, number | undefined]> = [['/hint/none', 3 * CHUNK + 5, undefined], ['/hint/right', 2 * CHUNK, 2 * CHUNK], ['/hint/short', 2 * CHUNK + 1, 10], ['/hint/small', 900, 900]]
    for (const [key, size, sizeHint] of cases) {
      const bytes = randomBytes(size)
      // Pieces of odd sizes, so buffers fill across piece boundaries.
      const pieces = [bytes.subarray(0, 7), bytes.subarray(7, 70_001), bytes.subarray(70_001)]
      await store.put(asKey(key), Readable.from(pieces), { sizeHint })
      expect((await body((await store.get(asKey(key))).body)).equals(bytes)).toBe(true)
    }
    expect(blobFiles(dir)).toHaveLength(3)
    expect(env()).toEqual({ chunks: 1, blobs: 3 })
    // The file is named by the record's content id, in a two-hex-digit fan-out directory.
    expect(blobFiles(dir).every(f => /^[0-9a-f]{2}\/[0-9a-f]{32}$/.test(f) && f.slice(3, 5) === f.slice(0, 2))).toBe(true)
  })

  it('unlinks a file once a newer version, a delete, an expiry or a dropped replica drops its content', async () => {
    const { store: s, dir, clock } = await makeStore(undefined, undefined, true)
    const store = s as ReplicaStore
    const big = (): Readable => Readable.from([randomBytes(2 * CHUNK + 3)])

    await store.put(asKey('/r/replaced'), big())
    expect(blobFiles(dir)).toHaveLength(1)
    await store.put(asKey('/r/replaced'), big())
    expect(blobFiles(dir)).toHaveLength(1)
    await store.put(asKey('/r/replaced'), Readable.from([Buffer.from('small now')]))
    expect(blobFiles(dir)).toHaveLength(0)

    await store.put(asKey('/r/deleted'), big())
    await store.delete(asKey('/r/deleted'))
    expect(blobFiles(dir)).toHaveLength(0)

    await store.put(asKey('/r/expired'), big(), { temporalDays: 1 })
    clock.advance(DAY)
    expect(blobFiles(dir)).toHaveLength(1)
    // The first call joins the sweep the interval timer started on the way (at an earlier time).
    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    expect(blobFiles(dir)).toHaveLength(0)

    const held = await store.put(asKey('/r/handed-off'), big())
    expect(await store.dropReplica(asKey('/r/handed-off'), held.version)).toBe(true)
    expect(blobFiles(dir)).toHaveLength(0)

    await store.put(asKey('/r/tombstoned'), big())
    await store.applyTombstone(asKey('/r/tombstoned'), store.nextVersion(), clock.now())
    expect(blobFiles(dir)).toHaveLength(0)

    // A replicated write: a newer version replaces the file, an older one leaves no file of its own.
    const older = store.nextVersion()
    const newer = store.nextVersion()
    const put = { created: clock.now(), expires: null, contentType: 'application/octet-stream' }
    expect((await store.applyPut(asKey('/r/replica'), big(), { ...put, version: newer })).applied).toBe(true)
    expect((await store.applyPut(asKey('/r/replica'), big(), { ...put, version: older })).applied).toBe(false)
    expect(blobFiles(dir)).toHaveLength(1)
    expect(await codeOf(store.applyPut(asKey('/r/replica'), big(), { ...put, version: store.nextVersion(), sha256: 'f'.repeat(64) }))).toBe('ERR_CORRUPT')
    expect(blobFiles(dir)).toHaveLength(1)
    const held2 = await store.get(asKey('/r/replica'))
    expect(held2.meta.version).toEqual(newer)
    await body(held2.body)
  })

  it('leaves no file behind an upload refused as too large or as a duplicate', async () => {
    const { store, dir } = await makeStore()
    await store.put(asKey('/dup'), Readable.from([randomBytes(2 * CHUNK)]))
    // Declared small (so the duplicate check waits for the commit) but larger than one chunk.
    expect(await codeOf(store.put(asKey('/dup'), Readable.from([randomBytes(3 * CHUNK)]), { ifAbsent: true, sizeHint: 10 }))).toBe('ERR_CONFLICT')
    expect(await codeOf(store.put(asKey('/big'), Readable.from([randomBytes(3 * CHUNK), randomBytes(CHUNK)]), { maxBytes: 3 * CHUNK + 10 }))).toBe('ERR_TOO_LARGE')
    expect(blobFiles(dir)).toHaveLength(1)
  })

  it('keeps a started read whole when the value is deleted under it', async () => {
    const { store } = await makeStore()
    const bytes = randomBytes(40 * CHUNK)
    await store.put(asKey('/read/deleted'), Readable.from([bytes]))
    const got = await store.get(asKey('/read/deleted'))
    await store.delete(asKey('/read/deleted'))
    expect((await body(got.body)).equals(bytes)).toBe(true)
    expect(await codeOf(store.get(asKey('/read/deleted')))).toBe('ERR_NOT_FOUND')
  })

  it('ends a file stream with ERR_CORRUPT, never short, when the file was damaged, cut or extended', async () => {
    const { store, dir } = await makeStore()
    const bytes = randomBytes(3 * CHUNK)
    for (const key of ['/c/damaged', '/c/cut', '/c/extended', '/c/gone']) await store.put(asKey(key), Readable.from([bytes]))
    const path = (key: string): string => {
      const raw = open({ path: dir, readOnly: true })
      const record = raw.openDB<ValueRecord, string>({ name: 'meta' }).get(key) as ValueRecord
      void raw.close()
      const hex = Buffer.from(record.contentId as Uint8Array).toString('hex')
      return join(dir, 'blobs', hex.slice(0, 2), hex)
    }
    const damaged = readFileSync(path('/c/damaged'))
    damaged[CHUNK + 1] ^= 0xff
    writeFileSync(path('/c/damaged'), damaged)
    truncateSync(path('/c/cut'), 2 * CHUNK)
    writeFileSync(path('/c/extended'), Buffer.concat([bytes, Buffer.from('x')]))
    // A file gone while its record still names it: damage, not a missing key.
    unlinkSync(path('/c/gone'))
    expect(await codeOf(store.get(asKey('/c/gone')))).toBe('ERR_CORRUPT')
    for (const key of ['/c/damaged', '/c/cut', '/c/extended']) {
      const { body: stream } = await store.get(asKey(key))
      expect(Buffer.isBuffer(stream)).toBe(false)
      expect(await codeOf(body(stream))).toBe('ERR_CORRUPT')
    }
  })

  it('refuses a second ifAbsent put of a live key, even when both race', async () => {
    const { store } = await makeStore()
    const results = await Promise.all([0, 1, 2, 3].map(async i =>
      await codeOf(store.put(asKey('/race'), Readable.from([Buffer.from(`v${i}`)]), { ifAbsent: true }))))
    expect(results.filter(r => r === undefined)).toHaveLength(1)
    expect(results.filter(r => r === 'ERR_CONFLICT')).toHaveLength(3)
    expect((await store.stats()).entries).toBe(1)
  })

  it('keeps its Paxos promises: an older ballot is neither promised nor accepted, a newer accept takes the promise', async () => {
    const { store, clock } = await makeStore(undefined, undefined, true)
    const replica = store as unknown as ReplicaStore
    const fields = { created: clock.now(), expires: null, contentType: 'application/octet-stream' }
    const [b1, b2, b3] = [0, 1, 2].map(() => replica.nextVersion())
    expect(await replica.prepare(asKey('/paxos'), b2)).toMatchObject({ promised: true, ballot: b2, entry: undefined })
    expect(await replica.prepare(asKey('/paxos'), b1)).toMatchObject({ promised: false, ballot: b2 })
    // An accept older than the promise is refused and says why; a copy (no accept) is not bound by promises.
    const refused = await replica.applyPut(asKey('/paxos'), Readable.from([Buffer.from('old')]), { ...fields, version: b1, accept: true })
    expect(refused).toMatchObject({ applied: false, promised: b2 })
    expect((await replica.applyPut(asKey('/paxos'), Readable.from([Buffer.from('mine')]), { ...fields, version: b2, accept: true, origin: b1 })).applied).toBe(true)
    expect(await replica.entry(asKey('/paxos'))).toMatchObject({ version: b2, origin: b1 })
    // Once accepted, the record's version is the ballot to pass.
    expect(await replica.prepare(asKey('/paxos'), b2)).toMatchObject({ promised: false, ballot: b2 })
    expect((await replica.applyTombstone(asKey('/paxos'), b3, clock.now(), { accept: true })).applied).toBe(true)
  })

  it('the sweep forgets promises older than any proposal lives without breaking them, and keeps newer ones', async () => {
    const { store, clock } = await makeStore(undefined, undefined, true)
    const replica = store as unknown as ReplicaStore & { sweep: () => Promise<void> }
    const [older, old, mid] = [replica.nextVersion(), replica.nextVersion(), replica.nextVersion()]
    expect((await replica.prepare(asKey('/promised/old'), old)).promised).toBe(true)
    clock.advance(11 * 60_000)
    const fresh = replica.nextVersion()
    expect((await replica.prepare(asKey('/promised/fresh'), fresh)).promised).toBe(true)
    await replica.sweep()
    // The old promise is forgotten, not broken: the floor rose to it, so an older ballot still loses, on any key; a newer one wins.
    expect((await replica.prepare(asKey('/promised/old'), old)).promised).toBe(false)
    expect((await replica.applyTombstone(asKey('/promised/old'), older, clock.now(), { accept: true })).applied).toBe(false)
    expect((await replica.prepare(asKey('/promised/other'), older)).promised).toBe(false)
    expect((await replica.prepare(asKey('/promised/old'), mid)).promised).toBe(true)
    // The fresh one is kept.
    expect((await replica.prepare(asKey('/promised/fresh'), mid)).promised).toBe(false)
  })

  it('keeps its promises across a restart without committing each one: every ballot it may have promised loses after', async () => {
    const dir = tempDir('pmz-store-')
    const clock = new ManualClock()
    const first = await makeStore(dir, clock, true)
    const replica = first.store as unknown as ReplicaStore
    const ballots = Array.from({ length: 50 }, () => replica.nextVersion())
    for (const b of ballots) expect((await replica.prepare(asKey(`/p/${b}`), b)).promised).toBe(true)
    // No clean close: the promises were never committed one by one, only the high-water mark was.
    await first.store.stop()
    const again = (await makeStore(dir, clock, true)).store as unknown as ReplicaStore
    for (const b of ballots) {
      const answer = await again.prepare(asKey(`/p/${b}`), b)
      expect(answer.promised).toBe(false)
      expect(answer.ballot! > b).toBe(true)
      // Even the accept of the proposal it was promised to: that proposal tries again with a newer ballot.
      expect((await again.applyTombstone(asKey(`/p/${b}`), b, clock.now(), { accept: true })).applied).toBe(false)
    }
    // A proposer that learns the floor wins with a newer ballot.
    const floor = (await again.prepare(asKey('/p/next'), ballots[0])).ballot!
    again.observeVersion(floor)
    expect((await again.prepare(asKey('/p/next'), again.nextVersion())).promised).toBe(true)
  })

  it('a prepare waits for a write of the key under way, and reports the value it accepted', async () => {
    const { store, clock } = await makeStore(undefined, undefined, true)
    const replica = store as unknown as ReplicaStore
    const fields = { created: clock.now(), expires: null, contentType: 'application/octet-stream' }
    const [b1, b2] = [replica.nextVersion(), replica.nextVersion()]
    expect((await replica.prepare(asKey('/w'), b1)).promised).toBe(true)
    const accepted = replica.applyPut(asKey('/w'), Readable.from([Buffer.from('v1')]), { ...fields, version: b1, accept: true })
    // Asked while the accept's commit is in flight: the promise must not miss it.
    await new Promise(resolve => setImmediate(resolve))
    const promise = await replica.prepare(asKey('/w'), b2)
    expect((await accepted).applied).toBe(true)
    expect(promise).toMatchObject({ promised: true, entry: { version: b1 } })
  })

  it('commits a staged value only under its accept, and re-versions a value of the same proposal in place', async () => {
    const { store, clock } = await makeStore(undefined, undefined, true)
    const replica = store as unknown as ReplicaStore
    const fields = { created: clock.now(), expires: null, contentType: 'application/octet-stream' }
    const value = randomBytes(3 * CHUNK)
    const staged = await replica.stage(asKey('/staged'), Readable.from([value]), fields)
    expect(await replica.entry(asKey('/staged'))).toBeUndefined()
    const [origin, b1, b2] = [0, 1, 2].map(() => replica.nextVersion())
    await replica.prepare(asKey('/staged'), b1)
    expect((await replica.applyStaged(asKey('/staged'), staged.stageId, { ...fields, version: b1, origin, accept: true })).applied).toBe(true)
    expect((await replica.get(asKey('/staged'))).meta.sha256).toBe(staged.sha256)
    // A later ballot of the same proposal: no bytes needed, the value takes the new version.
    expect((await replica.applyStaged(asKey('/staged'), 'gone', { ...fields, version: b2, origin, accept: true })).applied).toBe(true)
    expect(await replica.entry(asKey('/staged'))).toMatchObject({ version: b2, origin })
    expect(await codeOf(replica.applyStaged(asKey('/other'), 'gone', { ...fields, version: replica.nextVersion(), accept: true }))).toBe('ERR_NOT_FOUND')
    // A commit naming another sha256 than the staged bytes' is refused, and changes nothing.
    const other = await replica.stage(asKey('/other-sum'), Readable.from([value]), fields)
    expect(await codeOf(replica.applyStaged(asKey('/other-sum'), other.stageId, { ...fields, version: replica.nextVersion(), accept: true, sha256: 'f'.repeat(64) }))).toBe('ERR_CORRUPT')
    expect(await replica.entry(asKey('/other-sum'))).toBeUndefined()
    const dropped = await replica.stage(asKey('/dropped'), Readable.from([value]), fields)
    await replica.unstage(dropped.stageId)
    expect(await codeOf(replica.applyStaged(asKey('/dropped'), dropped.stageId, { ...fields, version: replica.nextVersion(), accept: true }))).toBe('ERR_NOT_FOUND')
  })

  it('stops reading at maxBytes and leaves nothing behind', async () => {
    const { store } = await makeStore()
    const code = await codeOf(store.put(asKey('/big'), Readable.from([randomBytes(3 * CHUNK), randomBytes(CHUNK)]), { maxBytes: 3 * CHUNK + 10 }))
    expect(code).toBe('ERR_TOO_LARGE')
    expect(await store.stat(asKey('/big'))).toBeUndefined()
    expect((await store.stats()).entries).toBe(0)
  })

  it('expires temporal keys at upload + N days, and the sweep removes them', async () => {
    const { store, clock } = await makeStore()
    await store.put(asKey('/t/one'), Readable.from([Buffer.from('x')]), { temporalDays: 1 })
    await store.put(asKey('/t/zero'), Readable.from([Buffer.from('x')]), { temporalDays: 0 })
    await store.put(asKey('/t/never'), Readable.from([Buffer.from('x')]), { temporalDays: -1 })
    expect(await store.stat(asKey('/t/zero'))).toBeUndefined()
    expect((await store.stats()).entries).toBe(2)

    clock.advance(DAY - 1)
    expect(await store.stat(asKey('/t/one'))).toBeDefined()
    clock.advance(1)
    // Not served as soon as it expires, before any sweep.
    expect(await codeOf(store.get(asKey('/t/one')))).toBe('ERR_NOT_FOUND')
    expect((await store.list()).map(m => m.key)).toEqual(['/t/never'])
    expect((await store.stats()).entries).toBe(1)

    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    expect((await store.stats()).entries).toBe(1)
    // An expired key can be written again.
    await store.put(asKey('/t/one'), Readable.from([Buffer.from('y')]), { ifAbsent: true })
    expect((await body((await store.get(asKey('/t/one'))).body)).toString()).toBe('y')
  })

  it('deletes with a tombstone that the sweep collects after the grace period', async () => {
    const { store, clock, dir } = await makeStore()
    await store.put(asKey('/d'), Readable.from([randomBytes(2 * CHUNK)]))
    await store.delete(asKey('/d'))
    expect(await codeOf(store.delete(asKey('/d')))).toBe('ERR_NOT_FOUND')
    expect(await codeOf(store.get(asKey('/d')))).toBe('ERR_NOT_FOUND')
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
    const v1 = await store.put(asKey('/h'), Readable.from([Buffer.from('1')]))
    clock.set(clock.now() - 10_000) // the wall clock steps back
    await store.delete(asKey('/h'))
    const v2 = await store.put(asKey('/h'), Readable.from([Buffer.from('2')]))
    expect(v2.version > v1.version).toBe(true)
  })

  it('removes the chunks of an interrupted upload at the next start', async () => {
    const dir = tempDir('pmz-store-')
    const { store } = await makeStore(dir)
    // An upload whose source dies midway, after chunks were written.
    const broken = new Readable({ read () {} })
    const pending = store.put(asKey('/broken'), broken)
    broken.push(randomBytes(3 * CHUNK))
    await new Promise(resolve => setImmediate(resolve))
    broken.destroy(new Error('client went away'))
    expect(await codeOf(pending)).toMatch(/client went away/)
    await store.stop()

    const again = await makeStore(dir)
    expect(await again.store.stat(asKey('/broken'))).toBeUndefined()
    const env = open({ path: dir, readOnly: true })
    expect(env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' }).getKeysCount()).toBe(0)
    expect(env.openDB({ name: 'pending', keyEncoding: 'binary' }).getKeysCount()).toBe(0)
    await env.close()
    expect(blobFiles(dir)).toEqual([])
  })

  it('removes, at the next start, the file of an upload killed midway and any file no record names', async () => {
    const dir = tempDir('pmz-store-')
    const { store } = await makeStore(dir)
    await store.put(asKey('/kept'), Readable.from([randomBytes(2 * CHUNK)]))
    await store.stop()
    expect(blobFiles(dir)).toHaveLength(1)
    // What a kill leaves: a pending entry and part of its file; a file whose
    // pending entry never committed; a file whose record was replaced just before its unlink.
    const killed = randomBytes(16)
    const env = open({ path: dir })
    await env.openDB({ name: 'pending', encoding: 'msgpack', keyEncoding: 'binary' }).put(killed, { key: '/killed', started: 1 })
    await env.close()
    const orphans = [killed, randomBytes(16), randomBytes(16)].map(id => id.toString('hex'))
    for (const hex of orphans) {
      mkdirSync(join(dir, 'blobs', hex.slice(0, 2)), { recursive: true })
      writeFileSync(join(dir, 'blobs', hex.slice(0, 2), hex), randomBytes(CHUNK + 1))
    }
    expect(blobFiles(dir)).toHaveLength(4)

    const again = await makeStore(dir)
    expect(blobFiles(dir)).toHaveLength(1)
    expect(await again.store.stat(asKey('/killed'))).toBeUndefined()
    expect((await body((await again.store.get(asKey('/kept'))).body)).length).toBe(2 * CHUNK)
    const raw = open({ path: dir, readOnly: true })
    expect(raw.openDB({ name: 'pending', keyEncoding: 'binary' }).getKeysCount()).toBe(0)
    await raw.close()
  })

  it('reads, and deletes, a value of several chunks stored in LMDB before blob files', async () => {
    const dir = tempDir('pmz-store-')
    const { store } = await makeStore(dir)
    const bytes = randomBytes(3 * CHUNK + 9)
    await store.put(asKey('/legacy'), Readable.from([bytes]))
    await store.put(asKey('/legacy-damaged'), Readable.from([bytes]))
    await store.stop()
    // Rewrite both records the way they were stored before: chunks in LMDB, no `blob` flag.
    const env = open({ path: dir })
    const meta = env.openDB<ValueRecord, string>({ name: 'meta', encoding: 'msgpack' })
    const chunks = env.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' })
    const blobs = env.openDB({ name: 'blobs', keyEncoding: 'binary' })
    for (const key of ['/legacy', '/legacy-damaged']) {
      const { blob: _, ...record } = meta.get(key) as ValueRecord
      const id = record.contentId as Uint8Array
      for (let i = 0; i * CHUNK < bytes.length; i++) {
        const chunk = Buffer.from(bytes.subarray(i * CHUNK, (i + 1) * CHUNK))
        if (key === '/legacy-damaged' && i === 1) chunk[0] ^= 0xff
        await chunks.put(chunkKey(id, i), chunk)
      }
      await blobs.remove(id)
      await meta.put(key, record)
    }
    await env.close()

    const again = await makeStore(dir)
    // Their files are no record's now: removed at start.
    expect(blobFiles(dir)).toEqual([])
    const got = await again.store.get(asKey('/legacy'))
    expect(Buffer.isBuffer(got.body)).toBe(false)
    expect((await body(got.body)).equals(bytes)).toBe(true)
    expect(await codeOf(body((await again.store.get(asKey('/legacy-damaged'))).body))).toBe('ERR_CORRUPT')
    await again.store.delete(asKey('/legacy'))
    await again.store.delete(asKey('/legacy-damaged'))
    await again.store.stop()
    const raw = open({ path: dir, readOnly: true })
    expect(raw.openDB({ name: 'chunks', keyEncoding: 'binary', encoding: 'binary' }).getKeysCount()).toBe(0)
    await raw.close()
  })

  it('lists live keys by prefix with paging', async () => {
    const { store } = await makeStore()
    for (const k of ['/a/1', '/a/2', '/a/3', '/b/1']) await store.put(asKey(k), Readable.from([Buffer.from(k)]))
    await store.delete(asKey('/a/2'))
    expect((await store.list({ prefix: '/a/' })).map(m => m.key)).toEqual(['/a/1', '/a/3'])
    expect((await store.list({ prefix: '/a/', limit: 1 })).map(m => m.key)).toEqual(['/a/1'])
    expect((await store.list({ prefix: '/a/', after: '/a/1' })).map(m => m.key)).toEqual(['/a/3'])
    expect((await store.list()).map(m => m.key)).toEqual(['/a/1', '/a/3', '/b/1'])
  })
})

