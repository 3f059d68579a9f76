import type { Database, RootDatabase } from 'lmdb'
import type { Clock } from '../common/clock.js'
import { decodeHlc, type HlcTimestamp } from '../common/hlc.js'
import type { Key } from './key.js'
import { PARTITIONS, partitionOf } from '../ring/index.js'
import { PARTITION_RECENT_MS } from './constants.js'
import { toEntry, type ReplicaEntry, type ValueRecord } from './record.js'
import type { PartitionView, YoungRecord } from './types.js'

/** What a key adds to its partition's digest now: its version and record hash; undefined when nothing (gone, or an expired value). */
interface Contribution { version: HlcTimestamp, hi: number, lo: number }

/** What one write did to its partition, computed inside the write's transaction and applied to the mirror once it committed. */
export interface PartitionDelta {
  p: number
  key: Key
  hi: number
  lo: number
  count: number
  /** The change of the value bytes held (the new record's size less the old one's; a tombstone holds 0). */
  bytes: number
  now: Contribution | undefined
}

/** The store's tables the digests read. */
export interface PartitionTables {
  meta: Database<ValueRecord, Key>
  expiry: Database<null, [number, Key]>
  state: Database<unknown, string>
}

/** `state` entries: the schema of the partition key index (absent: build it), whether `partitions` holds the digests as of a clean close, and the expiry watermark. */
const SCHEMA_KEY = 'partitions.schema'
const SCHEMA = 1
const CLEAN_KEY = 'partitions.clean'
const EXPIRED_KEY = 'partitions.expiredUntil'
/** `state` entry: the value bytes held as of a clean close (see heldBytes). */
const BYTES_KEY = 'partitions.bytes'

/**
 * Per ring partition (see PARTITION_BITS), the xor of a 64-bit hash of each
 * record's (key, version, deleted) and the number of records, kept up to
 * date by every write, and an index of the keys of each partition. So
 * anti-entropy reads its digests without walking the store, and lists the
 * keys of a partition without a walk.
 *
 * The key index is a table written in the write's own transaction (one put
 * for a new key, one removal for a removed one; nothing for an overwrite).
 * The digests and counts live in memory (typed arrays): each write computes
 * its delta inside its transaction, against the record it replaces, and the
 * delta is applied once the transaction committed (xor and counts commute,
 * so the order of the commits' callbacks does not matter; a write that
 * fails or is retried applies nothing). Persisting them with every write
 * cost about 10 µs per write (a read and a write of their row); instead a
 * clean close writes them all (`checkpoint`) and a start reads them back,
 * and a start after a crash builds them again from the records (a walk,
 * about 3 µs per record, printed in the log).
 *
 * Expiry: a value is left out of its digest once it expired, as every
 * replica computes the same expiry. The watermark `expiredUntil` says up to
 * when expiries were taken out (by `expire`, which scans the store's expiry
 * index from the watermark, so the cost follows what expired); a write
 * decides whether a record counts against the same watermark inside its
 * transaction.
 *
 * Young versions: anti-entropy compares versions older than a cutoff. The
 * keys changed in the last PARTITION_RECENT_MS are kept with what they add
 * (`young`), and a digest of the older versions is the kept one less those.
 */
export class PartitionDigests implements PartitionView {
  readonly xorHi = new Uint32Array(PARTITIONS)
  readonly xorLo = new Uint32Array(PARTITIONS)
  readonly count = new Uint32Array(PARTITIONS)
  readonly changedAt = new Float64Array(PARTITIONS)
  private readonly rows: Database<Buffer, number>
  private readonly keys: Database<null, [number, Key]>
  /** Keys changed lately, oldest first, with what each adds now. */
  private readonly recent = new Map<string, { p: number, now: Contribution | undefined, at: number }>()
  private expiring: Promise<void> | undefined
  /** The expiry watermark as of the last transaction that ran (`state` holds it durably; read per write it cost a lookup). */
  private watermark = 0
  /** A transaction that moved the watermark failed: the digests may be off until the next start rebuilds them (no checkpoint). */
  private suspect = false
  private trimmedAt = 0
  /** The value bytes of the records (tombstones hold 0; an expired value counts until it is removed), kept like the counts. */
  private bytes = 0
  /** Where the writes of the transaction running now put their deltas (see Tables.commit). */
  collector: PartitionDelta[] | undefined

  constructor (
    private readonly env: RootDatabase,
    private readonly t: PartitionTables,
    private readonly clock: Clock,
    /** Tables.commit: a write transaction whose deltas reach the mirror once it committed. */
    private readonly commit: (work: () => void) => Promise<void>
  ) {
    this.rows = env.openDB({ name: 'partitions', keyEncoding: 'uint32', encoding: 'binary' })
    this.keys = env.openDB({ name: 'partition-keys', encoding: 'msgpack' })
  }

  /**
   * Loads the digests written by the last clean close, or builds them from
   * the records (after a crash; and the key index too, for a store that
   * predates it). Returns the records walked (0: loaded).
   */
  open (): number {
    const indexed = this.t.state.get(SCHEMA_KEY) === SCHEMA
    const bytes = this.t.state.get(BYTES_KEY)
    if (!indexed || this.t.state.get(CLEAN_KEY) !== true || typeof bytes !== 'number') return this.rebuild(!indexed)
    this.bytes = bytes
    this.readWatermark()
    for (const { key, value } of this.rows.getRange()) {
      this.xorHi[key] = value.readUInt32LE(0)
      this.xorLo[key] = value.readUInt32LE(4)
      this.count[key] = value.readUInt32LE(8)
    }
    // From the first write on, the rows are behind: a crash from here on must rebuild.
    this.env.transactionSync(() => { void this.t.state.remove(CLEAN_KEY) })
    return 0
  }

  /** At a clean close, once no write is in flight: writes the digests, read back by the next start. */
  checkpoint (): void {
    if (this.suspect) return
    this.env.transactionSync(() => {
      for (const p of this.rows.getKeys()) void this.rows.remove(p)
      for (let p = 0; p < PARTITIONS; p++) if (this.count[p] > 0) void this.rows.put(p, row(this.xorHi[p], this.xorLo[p], this.count[p]))
      void this.t.state.put(BYTES_KEY, this.bytes)
      void this.t.state.put(CLEAN_KEY, true)
    })
  }

  private rebuild (withIndex: boolean): number {
    const now = this.clock.now()
    let walked = 0
    this.env.transactionSync(() => {
      // An index of an older build that did not keep it is stale: start over.
      if (withIndex) for (const k of this.keys.getKeys()) void this.keys.remove(k)
      this.xorHi.fill(0)
      this.xorLo.fill(0)
      this.count.fill(0)
      this.bytes = 0
      for (const { key, value } of this.t.meta.getRange()) {
        const p = partitionOf(key)
        walked++
        this.count[p]++
        this.bytes += value.size
        if (withIndex) void this.keys.put([p, key], null)
        if (!counts(value, now)) continue
        const [hi, lo] = recordHash(key, value)
        this.xorHi[p] ^= hi
        this.xorLo[p] ^= lo
      }
      void this.t.state.put(EXPIRED_KEY, now)
      this.watermark = now
      void this.t.state.put(SCHEMA_KEY, SCHEMA)
      void this.t.state.remove(CLEAN_KEY)
    })
    return walked
  }

  /**
   * Inside the write transaction that replaces `current` with `next` (either
   * may be undefined): updates the partition key index, and collects the
   * delta to apply to the digests once the transaction committed.
   */
  change (key: Key, current: ValueRecord | undefined, next: ValueRecord | undefined): void {
    const p = partitionOf(key)
    const until = this.expiredUntil()
    const was = current !== undefined && counts(current, until) ? recordHash(key, current) : undefined
    const now = next !== undefined && counts(next, until) ? recordHash(key, next) : undefined
    const hi = (was?.[0] ?? 0) ^ (now?.[0] ?? 0)
    const lo = (was?.[1] ?? 0) ^ (now?.[1] ?? 0)
    const count = (next !== undefined ? 1 : 0) - (current !== undefined ? 1 : 0)
    const bytes = (next?.size ?? 0) - (current?.size ?? 0)
    if (current === undefined && next !== undefined) void this.keys.put([p, key], null)
    else if (current !== undefined && next === undefined) void this.keys.remove([p, key])
    this.collect({ p, key, hi, lo, count, bytes, now: now === undefined ? undefined : { version: (next as ValueRecord).version, hi: now[0], lo: now[1] } })
  }

  private collect (d: PartitionDelta): void {
    if (this.collector === undefined) throw new Error('a record changed outside Tables.commit')
    this.collector.push(d)
  }

  /** After the commit of the transaction that made `deltas`: brings the mirror up to date. */
  apply (deltas: PartitionDelta[]): void {
    const at = this.clock.now()
    for (const d of deltas) {
      this.xorHi[d.p] ^= d.hi
      this.xorLo[d.p] ^= d.lo
      this.count[d.p] += d.count
      this.bytes += d.bytes
      this.changedAt[d.p] = at
      this.recent.delete(d.key)
      this.recent.set(d.key, { p: d.p, now: d.now, at })
    }
    this.trim(at)
  }

  heldBytes (): number {
    return this.bytes
  }

  async expire (now: number): Promise<void> {
    const { meta, expiry } = this.t
    if (this.expiring !== undefined) return await this.expiring
    const from = this.expiredUntil()
    // Nothing expired since the watermark: no transaction (the watermark stays; a record written meanwhile is judged against it, and a later scan takes it out).
    let due = false
    for (const [at] of expiry.getKeys({ start: [from], end: [now + 1], limit: 16 })) if (at > from) { due = true; break }
    if (!due) return
    this.expiring = this.commit(() => {
      const until = this.expiredUntil()
      for (const [at, key] of expiry.getKeys({ start: [until], end: [now + 1] })) {
        if (at <= until) continue
        const r = meta.get(key)
        // Counted while its expiry was past the watermark; from now on it is not.
        if (r === undefined || r.deleted || r.expires !== at) continue
        const p = partitionOf(key)
        const [hi, lo] = recordHash(key, r)
        this.collect({ p, key, hi, lo, count: 0, bytes: 0, now: undefined })
      }
      void this.t.state.put(EXPIRED_KEY, now)
      // Later writes (in this transaction or the next) judge against the new watermark, as LMDB will hold it.
      this.watermark = now
    }).catch(err => {
      this.suspect = true
      this.readWatermark()
      throw err
    }).finally(() => { this.expiring = undefined })
    return await this.expiring
  }

  young (until: HlcTimestamp): YoungRecord[] | undefined {
    const now = this.clock.now()
    this.trimmedAt = 0
    this.trim(now)
    if (until.length > 0 && until < '\uffff' && decodeHlc(until).wall < now - PARTITION_RECENT_MS + PARTITION_RECENT_SLACK_MS) return undefined
    const out: YoungRecord[] = []
    for (const { p, now: c } of this.recent.values()) if (c !== undefined && c.version >= until) out.push({ p, hi: c.hi, lo: c.lo })
    return out
  }

  entries (partitions: number[], after: [number, string] | undefined, limit: number): ReplicaEntry[] {
    const meta = this.t.meta
    const out: ReplicaEntry[] = []
    for (const p of [...partitions].sort((a, b) => a - b)) {
      if (after !== undefined && p < after[0]) continue
      // The mirror may lag a commit by a moment: a partition it counts empty is listed by a later call.
      if (this.count[p] === 0) continue
      const start: [number, string] = after !== undefined && p === after[0] ? after : [p, '']
      for (const [, key] of this.keys.getKeys({ start, end: [p + 1, ''] })) {
        if (after !== undefined && p === after[0] && key <= after[1]) continue
        const r = meta.get(key)
        if (r === undefined) continue
        out.push(toEntry(key, r))
        if (out.length >= limit) return out
      }
    }
    return out
  }

  private expiredUntil (): number {
    return this.watermark
  }

  private readWatermark (): void {
    const v = this.t.state.get(EXPIRED_KEY)
    this.watermark = typeof v === 'number' ? v : 0
  }

  private trim (now: number): void {
    // At most once a second: an iteration from the start skips the slots of deleted entries, and every overwrite deletes one.
    if (now - this.trimmedAt < 1_000) return
    this.trimmedAt = now
    for (const [key, r] of this.recent) {
      if (r.at >= now - PARTITION_RECENT_MS) return
      this.recent.delete(key)
    }
  }
}

/** Kept a little inside the recent window, so that a cutoff near its edge is not trusted. */
const PARTITION_RECENT_SLACK_MS = 5_000

/** Whether a record counts in its partition's digest with the expiry watermark at `until`: a tombstone always, a value until it expired. */
function counts (r: ValueRecord, until: number): boolean {
  return r.deleted || r.expires === null || r.expires > until
}

/**
 * 64 bits over what replicas must agree on: the key, its version and
 * whether it is a tombstone. Two 32-bit MurmurHash3 passes with different
 * seeds, in JS: a write hashes the record it replaces and the new one, and
 * a one-shot sha1 through the crypto binding cost about 1.5 µs each. Not
 * meant to resist a crafted collision, only to tell replicas apart.
 */
export function recordHash (key: Key, r: Pick<ValueRecord, 'version' | 'deleted'>): [number, number] {
  const s = `${key}\u0000${r.version}\u0000${r.deleted ? 'd' : 'l'}`
  return [murmur3(s, 0x9747b28c), murmur3(s, 0x5bd1e995)]
}

/** MurmurHash3 (x86, 32-bit) over the UTF-16 code units of `s`, two to a block. */
function murmur3 (s: string, seed: number): number {
  let h = seed >>> 0
  const n = s.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    let k = (s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16)) >>> 0
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  if (i < n) {
    let k = s.charCodeAt(i)
    k = Math.imul(k, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    h ^= k
  }
  h ^= n * 2
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function row (hi: number, lo: number, count: number): Buffer {
  const b = Buffer.allocUnsafe(12)
  b.writeUInt32LE(hi >>> 0, 0)
  b.writeUInt32LE(lo >>> 0, 4)
  b.writeUInt32LE(count >>> 0, 8)
  return b
}
