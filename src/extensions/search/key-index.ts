import { localDay, type Day, type DayRange } from './dates.js'
import { compareBytes, PackedKeys, type PackedEntry } from './packed-keys.js'

/** What the index keeps of a key: no value bytes, only its name and dates. */
export interface IndexedKey {
  key: string
  /** Upload time, ms since the epoch. */
  created: number
  /** Expiry, ms since the epoch; null = permanent. */
  expires: number | null
}

export interface KeyQuery {
  /** Case-sensitive substring of the whole key (with its leading `/`); '' matches every key. */
  text: string
  range?: DayRange
  /** At most this many keys. @default no limit */
  limit?: number
  /** Keys that expired at or before this instant are left out. */
  now: number
}

/** A key written since the packed segment was built (what the index needs of it). */
interface Pending { key: string, day: Day, expires: number }
/** A pending key with its bytes, as a merge takes it. */
interface SortedPending extends Pending, PackedEntry {}

/** Keys written since the last merge at most, whatever the size of the index: a merge copies the whole segment. */
const MAX_PENDING = 16_384
/** ...and at least (a small index merges often, cheaply). */
const MIN_PENDING = 1024

/**
 * An in-memory index of key names, upload days and expiries, in key order
 * (byte order: keys are ASCII; in general UTF-8 byte order, the order the
 * store lists them in). Most keys live in a {@link PackedKeys} segment that
 * holds no JS object per key, so a store of millions of keys adds a few
 * large buffers to the heap and nothing for the garbage collector to mark
 * key by key (about 17 bytes plus the key's per key, off the JS heap).
 *
 * Keys that arrive in order (the listing the index is built from at start)
 * are appended to the segment. Others wait in `pending`, a small map, and
 * are merged into a new segment once there are MAX_PENDING of them (or an
 * eighth of the index): a copy of the segment, runs of kept keys moved as
 * blocks, so a write pays for a few entries of it. A removed or rewritten
 * key is flagged in the segment; flags are dropped at the next merge, done
 * early when they are a quarter of the segment.
 *
 * A query scans: a substring search runs over the packed key bytes
 * (Buffer#indexOf), a date filter over the packed days; keys written since
 * the last merge are filtered apart and the two sorted lists merged.
 */
export class KeyIndex {
  private packed = new PackedKeys()
  /** Keys not held (or flagged removed) in `packed`: a key is live in one of the two at most. */
  private readonly pending = new Map<string, Pending>()
  /** `pending` in key order with the keys' bytes, until it changes. */
  private sortedPending: SortedPending[] | undefined

  constructor (private readonly dayOf: (ms: number) => Day = localDay) {}

  get size (): number { return this.packed.live + this.pending.size }

  /** Bytes held off the JS heap by the packed segment (capacity included). */
  get packedBytes (): number { return this.packed.bytes }

  upsert (item: IndexedKey): void {
    const day = this.dayOf(item.created)
    const expires = item.expires ?? Infinity
    const waiting = this.pending.get(item.key)
    if (waiting !== undefined) {
      if (waiting.day === day && waiting.expires === expires) return
      this.pending.set(item.key, { key: item.key, day, expires })
      this.sortedPending = undefined
      return
    }
    const bytes = Buffer.from(item.key)
    const i = this.packed.find(bytes)
    if (i >= 0) {
      // Only the day and the expiry are indexed: a rewrite that keeps both changes nothing.
      if (this.packed.dayAt(i) === day && this.packed.expiresAt(i) === expires) return
      this.packed.remove(i)
    } else if (this.pending.size === 0 && this.packed.after(bytes)) {
      this.packed.append({ bytes, day, expires })
      return
    }
    this.pending.set(item.key, { key: item.key, day, expires })
    this.sortedPending = undefined
    if (this.pending.size >= Math.min(MAX_PENDING, Math.max(MIN_PENDING, this.packed.live >>> 3))) this.merge()
  }

  remove (key: string): void {
    if (this.pending.delete(key)) {
      this.sortedPending = undefined
      return
    }
    const i = this.packed.find(Buffer.from(key))
    if (i < 0) return
    this.packed.remove(i)
    if (this.packed.removedCount > Math.max(MIN_PENDING, this.packed.length >>> 2)) this.merge()
  }

  /** Keys matching the query, in key order. */
  query (q: KeyQuery): string[] {
    const limit = q.limit ?? Infinity
    const from = q.range?.from ?? -Infinity
    const to = q.range?.to ?? Infinity
    if (limit <= 0 || from > to) return []
    const packed = this.packed
    const matches = (day: Day, expires: number): boolean => day >= from && day <= to && expires > q.now
    // The first `limit` hits of each part are all the merge below can take.
    const hits = packed.collect(q.text === '' ? undefined : Buffer.from(q.text), { from, to, now: q.now, limit })
    const others: SortedPending[] = []
    for (const p of this.sortedPending ?? this.sortPending()) {
      if (others.length >= limit) break
      if (matches(p.day, p.expires) && (q.text === '' || p.key.includes(q.text))) others.push(p)
    }
    const out: string[] = []
    let a = 0
    let b = 0
    while (out.length < limit && (a < hits.length || b < others.length)) {
      if (b >= others.length || (a < hits.length && packed.compareTo(others[b].bytes, hits[a]) > 0)) out.push(packed.keyAt(hits[a++]))
      else out.push(others[b++].key)
    }
    return out
  }

  private sortPending (): SortedPending[] {
    const sorted = [...this.pending.values()].map(p => ({ ...p, bytes: Buffer.from(p.key) }))
    sorted.sort((x, y) => compareBytes(x.bytes, y.bytes))
    this.sortedPending = sorted
    return sorted
  }

  /** Folds the pending keys and the removal flags into a new packed segment. */
  private merge (): void {
    this.packed = this.packed.merge(this.sortedPending ?? this.sortPending())
    this.pending.clear()
    this.sortedPending = undefined
  }
}
