import { localDay, type Day, type DayRange } from './dates.js'

/** What the index keeps of a key: no value bytes, only its name and dates. */
export interface IndexedKey {
  key: string
  /** Upload time, ms since the epoch. */
  created: number
  /** Expiry, ms since the epoch; null = permanent. */
  expires: number | null
}

interface Entry extends IndexedKey { day: Day }

export interface KeyQuery {
  /** Case-sensitive substring of the whole key (with its leading `/`); '' matches every key. */
  text: string
  range?: DayRange
  /** At most this many keys. @default no limit */
  limit?: number
  /** Keys that expired at or before this instant are left out. */
  now: number
}

/** Below this share of all keys, a date range's day buckets are read instead of the whole sorted list. */
const BUCKET_SHARE = 0.125

/**
 * An in-memory index of key names and upload days:
 * - `sorted`: every entry in key order (the order answers come in);
 * - `byDay`: day -> keys uploaded that day, `days` the sorted list of days.
 * A date filter reads only the buckets of its days when they are a small
 * share of all keys; otherwise one pass over `sorted` answers, stopping at
 * the limit. Writes only append to `sorted` (keys arrive in order while the
 * index is built) or mark it stale; the next query sorts it again from
 * `entries`: a store takes many more writes than searches, and a splice into
 * a sorted array per write cost a quarter of a delete's CPU at 30,000 keys.
 */
export class KeyIndex {
  private readonly entries = new Map<string, Entry>()
  private sorted: Entry[] = []
  /** `sorted` is out of order or holds replaced and removed entries: rebuilt at the next query. */
  private stale = false
  private readonly byDay = new Map<Day, Set<string>>()
  private readonly days: Day[] = []

  constructor (private readonly dayOf: (ms: number) => Day = localDay) {}

  get size (): number { return this.entries.size }

  upsert (item: IndexedKey): void {
    const current = this.entries.get(item.key)
    const entry: Entry = { key: item.key, created: item.created, expires: item.expires, day: this.dayOf(item.created) }
    if (current !== undefined) {
      if (current.created === item.created && current.expires === item.expires) return
      this.leaveDay(current)
      this.stale = true
    } else if (!this.stale) {
      const last = this.sorted[this.sorted.length - 1]
      if (last !== undefined && last.key > item.key) this.stale = true
      else this.sorted.push(entry)
    }
    this.entries.set(item.key, entry)
    let bucket = this.byDay.get(entry.day)
    if (bucket === undefined) {
      bucket = new Set()
      this.byDay.set(entry.day, bucket)
      this.days.splice(lowerBound(this.days, entry.day), 0, entry.day)
    }
    bucket.add(entry.key)
  }

  remove (key: string): void {
    const current = this.entries.get(key)
    if (current === undefined) return
    this.entries.delete(key)
    this.stale = true
    this.leaveDay(current)
  }

  /** Keys matching the query, in key order. */
  query (q: KeyQuery): string[] {
    const limit = q.limit ?? Infinity
    const from = q.range?.from ?? -Infinity
    const to = q.range?.to ?? Infinity
    if (limit <= 0 || from > to) return []
    const live = (e: Entry): boolean => e.expires === null || e.expires > q.now
    const matches = (e: Entry): boolean => e.key.includes(q.text) && e.day >= from && e.day <= to && live(e)
    const dated = q.range?.from !== undefined || q.range?.to !== undefined
    if (dated) {
      const buckets = this.bucketsIn(from, to)
      const count = buckets.reduce((n, b) => n + b.size, 0)
      if (count < this.entries.size * BUCKET_SHARE) {
        const keys: string[] = []
        for (const b of buckets) for (const key of b) if (matches(this.entries.get(key) as Entry)) keys.push(key)
        keys.sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
        return keys.length > limit ? keys.slice(0, limit) : keys
      }
    }
    if (this.stale) {
      this.sorted = [...this.entries.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
      this.stale = false
    }
    const out: string[] = []
    for (const e of this.sorted) {
      if (out.length >= limit) break
      if (matches(e)) out.push(e.key)
    }
    return out
  }

  private bucketsIn (from: Day, to: Day): Array<Set<string>> {
    const out: Array<Set<string>> = []
    for (let i = lowerBound(this.days, from); i < this.days.length && this.days[i] <= to; i++) {
      out.push(this.byDay.get(this.days[i]) as Set<string>)
    }
    return out
  }

  private leaveDay (e: Entry): void {
    const bucket = this.byDay.get(e.day)
    if (bucket === undefined) return
    bucket.delete(e.key)
    if (bucket.size > 0) return
    this.byDay.delete(e.day)
    this.days.splice(lowerBound(this.days, e.day), 1)
  }
}

/** The first index whose element is >= `value` in a sorted array. */
function lowerBound (sorted: readonly number[], value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid] < value) lo = mid + 1
    else hi = mid
  }
  return lo
}
