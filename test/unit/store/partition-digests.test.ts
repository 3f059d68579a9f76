import { open } from 'lmdb'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/common/logger.js'
import { seededRandom } from '../../../src/common/random.js'
import { PARTITIONS, partitionOf } from '../../../src/ring/index.js'
import { recordHash } from '../../../src/store/partition-digests.js'
import { asKey, createLocalStore, type ReplicaEntry, type ReplicaStore } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const DAY = 86_400_000
const log = createLogger({ level: 'silent' })

async function * bytes (b: Buffer): AsyncIterable<Uint8Array> { if (b.length > 0) yield b }

/** Every record of the store, by a walk. */
async function walk (store: ReplicaStore): Promise<ReplicaEntry[]> {
  const out: ReplicaEntry[] = []
  let after: string | undefined
  for (;;) {
    const batch = await store.entries(after, 500)
    out.push(...batch)
    if (batch.length < 500) return out
    after = batch[batch.length - 1].key
  }
}

/** The digests recomputed from scratch: a value expired at `now` is left out, a tombstone counts. */
function fromScratch (entries: ReplicaEntry[], now: number): { hi: Uint32Array, lo: Uint32Array, count: Uint32Array } {
  const hi = new Uint32Array(PARTITIONS)
  const lo = new Uint32Array(PARTITIONS)
  const count = new Uint32Array(PARTITIONS)
  for (const e of entries) {
    const p = partitionOf(e.key)
    count[p]++
    if (!e.deleted && e.expires !== null && e.expires <= now) continue
    const [h, l] = recordHash(e.key, e)
    hi[p] ^= h
    lo[p] ^= l
  }
  return { hi, lo, count }
}

/** The partitions where the store's kept digests differ from the recomputed ones (none expected). */
async function mismatches (store: ReplicaStore, now: number): Promise<number[]> {
  await store.partitions().expire(now)
  const want = fromScratch(await walk(store), now)
  const got = store.partitions()
  const out: number[] = []
  for (let p = 0; p < PARTITIONS; p++) {
    if (got.xorHi[p] !== want.hi[p] || got.xorLo[p] !== want.lo[p] || got.count[p] !== want.count[p]) out.push(p)
  }
  // The bytes held, kept the same way: every record's size, a tombstone's 0, an expired value's until it is swept (-1 when off).
  if (got.heldBytes() !== (await walk(store)).reduce((n, e) => n + (e.deleted ? 0 : e.size), 0)) out.push(-1)
  return out
}

describe.each(['flush', 'os'] as const)('partition digests, sync=%s', sync => {
  const stores: ReplicaStore[] = []
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function makeStore (dir: string, clock: ManualClock): Promise<ReplicaStore> {
    const store = createLocalStore({ clock, log }, { dir, peerId: 'p1', sweepIntervalMs: 3_600_000, tombstoneGraceMs: 2 * DAY, sync })
    await store.start()
    stores.push(store)
    return store
  }

  it('the digests (and the bytes held) kept on every write equal those recomputed from scratch after random writes, deletes, expiries, sweeps, handoffs and restarts', async () => {
    const dir = tempDir('pmz-partitions-')
    const clock = new ManualClock(1_700_000_000_000)
    let store = await makeStore(dir, clock)
    const random = seededRandom(19)
    const keys = Array.from({ length: 150 }, (_, i) => `/d/${i}`)
    const pick = (): string => keys[Math.floor(random() * keys.length)]
    for (let step = 0; step < 600; step++) {
      const r = random()
      const key = pick()
      if (r < 0.3) {
        // A client's write: permanent, or a temporal key of 0-2 days (0 expires at once).
        const temporal = random() < 0.4 ? Math.floor(random() * 3) : undefined
        await store.put(asKey(key), bytes(Buffer.alloc(Math.floor(random() * 3000), step)), { temporalDays: temporal })
      } else if (r < 0.45) {
        // A replicated write, sometimes older than what is held (refused), sometimes already expired.
        const expires = random() < 0.3 ? clock.now() + Math.floor((random() - 0.5) * 2 * DAY) : null
        await store.applyPut(asKey(key), bytes(Buffer.from(`r${step}`)), { version: store.nextVersion(), created: clock.now(), expires, contentType: 'text/plain' })
      } else if (r < 0.6) {
        await store.delete(asKey(key)).catch(() => {})
      } else if (r < 0.7) {
        await store.applyTombstone(asKey(key), store.nextVersion(), clock.now())
      } else if (r < 0.75) {
        const e = await store.entry(asKey(key))
        if (e !== undefined) await store.dropReplica(asKey(key), e.version)
      } else if (r < 0.85) {
        clock.advance(Math.floor(random() * DAY))
      } else if (r < 0.9) {
        // The sweeper removes expired values and tombstones past their grace.
        await (store as unknown as { sweep: () => Promise<void> }).sweep()
      } else if (r < 0.92) {
        await store.stop()
        stores.splice(stores.indexOf(store), 1)
        store = await makeStore(dir, clock)
      }
      if (step % 25 === 0) expect(await mismatches(store, clock.now()), `step ${step}`).toEqual([])
    }
    expect(await mismatches(store, clock.now())).toEqual([])
    // The partition index lists exactly the records of each partition, in key order.
    const all = await walk(store)
    const some = [...new Set(all.map(e => partitionOf(e.key)))].slice(0, 20)
    const listed = store.partitions().entries(some, undefined, 10_000)
    const expected = all.filter(e => some.includes(partitionOf(e.key))).sort((a, b) => partitionOf(a.key) - partitionOf(b.key) || (a.key < b.key ? -1 : 1))
    expect(listed.map(e => e.key)).toEqual(expected.map(e => e.key))
    // And pages: after the 5th one, the rest.
    expect(store.partitions().entries(some, [partitionOf(expected[4].key), expected[4].key], 10_000).map(e => e.key)).toEqual(expected.slice(5).map(e => e.key))
  })

  it('builds the digests from the records when a store written before them starts', async () => {
    const dir = tempDir('pmz-partitions-')
    const clock = new ManualClock(1_700_000_000_000)
    const store = await makeStore(dir, clock)
    for (let i = 0; i < 200; i++) await store.put(asKey(`/old/${i}`), bytes(Buffer.from(String(i))), { temporalDays: i % 5 === 0 ? 1 : undefined })
    for (let i = 0; i < 20; i++) await store.delete(asKey(`/old/${i * 3}`)).catch(() => {})
    const before = { hi: Uint32Array.from(store.partitions().xorHi), count: Uint32Array.from(store.partitions().count) }
    await store.stop()
    stores.splice(0)
    // As a build without partition digests left it: no schema mark.
    const env = open({ path: dir, maxDbs: 16 })
    const state = env.openDB({ name: 'state', encoding: 'msgpack' })
    await state.remove('partitions.schema')
    await env.close()
    const again = await makeStore(dir, clock)
    expect(Uint32Array.from(again.partitions().xorHi)).toEqual(before.hi)
    expect(Uint32Array.from(again.partitions().count)).toEqual(before.count)
    clock.advance(2 * DAY)
    expect(await mismatches(again, clock.now())).toEqual([])
  })

  it('tells the records written since a cutoff (young), and no more when the cutoff is older than it remembers', async () => {
    const clock = new ManualClock(1_700_000_000_000)
    const store = await makeStore(tempDir('pmz-partitions-'), clock)
    await store.put(asKey('/young/a'), bytes(Buffer.from('a')))
    clock.advance(3_000)
    const cut = store.nextVersion()
    await store.put(asKey('/young/b'), bytes(Buffer.from('b')))
    await store.delete(asKey('/young/a'))
    const young = store.partitions().young(cut) ?? []
    const [bh, bl] = recordHash(asKey('/young/b'), (await store.entry(asKey('/young/b'))) as ReplicaEntry)
    const [ah, al] = recordHash(asKey('/young/a'), (await store.entry(asKey('/young/a'))) as ReplicaEntry)
    expect(young).toEqual(expect.arrayContaining([{ p: partitionOf('/young/b'), hi: bh, lo: bl }, { p: partitionOf('/young/a'), hi: ah, lo: al }]))
    expect(young).toHaveLength(2)
    clock.advance(120_000)
    expect(store.partitions().young(cut)).toBeUndefined()
  })
})
