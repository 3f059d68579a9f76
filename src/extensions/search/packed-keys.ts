import type { Day } from './dates.js'

/** Entries and key bytes a new segment starts with room for. */
const MIN_ENTRIES = 1024
const MIN_BYTES = 16 * 1024
/** Runs of more key bytes than this are copied with Buffer#copy and TypedArray#set, shorter ones in loops. */
const LONG_RUN_BYTES = 4096

/** A key to add to a segment: its UTF-8 bytes, upload day and expiry (Infinity: permanent). */
export interface PackedEntry { bytes: Uint8Array, day: Day, expires: number }

/** Byte order of two keys (in JS: keys are short, and a call into Buffer.compare costs more than the loop). */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let k = 0; k < n; k++) {
    const d = a[k] - b[k]
    if (d !== 0) return d
  }
  return a.length - b.length
}

/**
 * Keys in byte order (UTF-8 byte order is code point order, the order LMDB
 * lists them in) packed into a few buffers: the key bytes end to end, and
 * per entry its start offset, upload day, expiry and a removed flag. The
 * garbage collector sees five objects however many keys there are (a Map
 * of one object per key cost 183 heap bytes per key, and marking a million
 * of them is what a major GC of a big store spent its time on).
 *
 * Entries are only appended (in order) or flagged removed; anything else is
 * a new segment built by `merge`.
 */
export class PackedKeys {
  private text: Buffer
  private starts: Uint32Array
  private days: Int32Array
  private expiries: Float64Array
  private removed: Uint8Array
  /** Entries, removed ones included. */
  length = 0
  /** Entries flagged removed. */
  removedCount = 0

  constructor (entries = MIN_ENTRIES, bytes = MIN_BYTES) {
    const n = Math.max(MIN_ENTRIES, entries)
    this.text = Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, bytes))
    this.starts = new Uint32Array(n + 1)
    this.days = new Int32Array(n)
    this.expiries = new Float64Array(n)
    this.removed = new Uint8Array(n)
  }

  /** Entries not removed. */
  get live (): number { return this.length - this.removedCount }

  /** Bytes held (capacity included). */
  get bytes (): number {
    return this.text.length + this.starts.byteLength + this.days.byteLength + this.expiries.byteLength + this.removed.byteLength
  }

  keyAt (i: number): string { return this.text.toString('utf8', this.starts[i], this.starts[i + 1]) }
  dayAt (i: number): Day { return this.days[i] }
  expiresAt (i: number): number { return this.expiries[i] }
  isRemoved (i: number): boolean { return this.removed[i] === 1 }

  /** Compares `bytes` with the key of entry `i`: negative when `bytes` sorts first. */
  compareTo (bytes: Uint8Array, i: number): number {
    // In JS: keys are short, and a call into Buffer#compare costs more than the loop.
    const text = this.text
    let at = this.starts[i]
    const end = this.starts[i + 1]
    for (let k = 0; k < bytes.length; k++, at++) {
      if (at === end) return 1
      const d = bytes[k] - text[at]
      if (d !== 0) return d
    }
    return at === end ? 0 : -1
  }

  /** The first entry in [from, to) whose key is >= `bytes` (removed entries included), `to` when none is. */
  lowerBound (bytes: Uint8Array, from = 0, to = this.length): number {
    let lo = from
    let hi = to
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.compareTo(bytes, mid) > 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** lowerBound from `from` on, for a key expected near `from`: steps of 1, 2, 4... then a binary search (added keys fall between kept ones a few apart). */
  private gallop (bytes: Uint8Array, from: number): number {
    let step = 1
    let lo = from
    while (lo + step < this.length && this.compareTo(bytes, lo + step) > 0) {
      lo += step
      step *= 2
    }
    return this.lowerBound(bytes, lo, Math.min(this.length, lo + step))
  }

  /** The entry holding exactly `bytes` and not removed, or -1. */
  find (bytes: Uint8Array): number {
    const i = this.lowerBound(bytes)
    return i < this.length && this.removed[i] === 0 && this.compareTo(bytes, i) === 0 ? i : -1
  }

  /** Whether `bytes` sorts after every entry, so that it can be appended. */
  after (bytes: Uint8Array): boolean {
    return this.length === 0 || this.compareTo(bytes, this.length - 1) > 0
  }

  remove (i: number): void {
    if (this.removed[i] === 1) return
    this.removed[i] = 1
    this.removedCount++
  }

  /** Appends an entry that sorts after every other (see `after`). */
  append (e: PackedEntry): void {
    this.reserve(1, e.bytes.length)
    const at = this.starts[this.length]
    const b = e.bytes
    // Keys are short: a loop beats a call into Buffer#copy.
    for (let k = 0; k < b.length; k++) this.text[at + k] = b[k]
    this.days[this.length] = e.day
    this.expiries[this.length] = e.expires
    this.length++
    this.starts[this.length] = at + e.bytes.length
  }

  /**
   * The entries, in order, that are not removed, whose key holds `needle`
   * (all when undefined), whose day is within [from, to] and that have not
   * expired at `now`: the first `limit` of them.
   */
  collect (needle: Uint8Array | undefined, q: { from: Day, to: Day, now: number, limit: number }): number[] {
    const out: number[] = []
    const { from, to, now, limit } = q
    const { days, expiries, removed } = this
    const take = (i: number): boolean => {
      if (removed[i] === 0 && days[i] >= from && days[i] <= to && expiries[i] > now) out.push(i)
      return out.length < limit
    }
    if (needle === undefined) {
      for (let i = 0; i < this.length; i++) if (!take(i)) break
      return out
    }
    // Buffer#indexOf over all the key bytes at once, then the entry each hit falls in.
    const end = this.starts[this.length]
    let pos = 0
    let i = 0
    while (pos < end) {
      const at = this.text.indexOf(needle, pos)
      if (at < 0 || at + needle.length > end) break
      i = this.entryAt(at, i)
      if (at + needle.length <= this.starts[i + 1]) {
        if (!take(i)) break
        pos = this.starts[i + 1]
      } else {
        pos = at + 1 // across two keys: no hit, look on from the next byte
      }
    }
    return out
  }

  /**
   * A new segment: this one's entries that are not removed, and `added`
   * (sorted, none equal to an entry not removed here), in order. Runs of
   * kept entries are copied as blocks.
   */
  merge (added: PackedEntry[]): PackedKeys {
    const n = this.live + added.length
    let bytes = this.starts[this.length]
    for (const a of added) bytes += a.bytes.length
    const out = new PackedKeys(n + (n >>> 3), bytes + (bytes >>> 3))
    let i = 0
    for (const a of added) {
      const at = this.gallop(a.bytes, i)
      out.copyFrom(this, i, at)
      out.append(a)
      i = at
    }
    out.copyFrom(this, i, this.length)
    return out
  }

  /** Appends the entries of `src` in [from, to) that are not removed. */
  private copyFrom (src: PackedKeys, from: number, to: number): void {
    let k = from
    while (k < to) {
      while (k < to && src.removed[k] === 1) k++
      let e = k
      while (e < to && src.removed[e] === 0) e++
      if (e > k) this.copyRun(src, k, e)
      k = e
    }
  }

  private copyRun (src: PackedKeys, from: number, to: number): void {
    const s0 = src.starts[from]
    const bytes = src.starts[to] - s0
    this.reserve(to - from, bytes)
    const at = this.starts[this.length]
    const shift = at - s0
    const n = this.length - from
    // A merge copies one run per added key, most of them short: loops, where calls into Buffer#copy and TypedArray#set would cost more.
    if (bytes > LONG_RUN_BYTES) {
      src.text.copy(this.text, at, s0, s0 + bytes)
      this.days.set(src.days.subarray(from, to), this.length)
      this.expiries.set(src.expiries.subarray(from, to), this.length)
    } else {
      const { text, days, expiries } = this
      const { text: srcText, days: srcDays, expiries: srcExpiries } = src
      for (let k = 0; k < bytes; k++) text[at + k] = srcText[s0 + k]
      for (let k = from; k < to; k++) {
        days[n + k] = srcDays[k]
        expiries[n + k] = srcExpiries[k]
      }
    }
    const starts = this.starts
    const srcStarts = src.starts
    for (let k = from + 1; k <= to; k++) starts[n + k] = srcStarts[k] + shift
    this.length += to - from
  }

  /** The entry whose key holds byte offset `at`, searching from entry `from` on. */
  private entryAt (at: number, from: number): number {
    let lo = from
    let hi = this.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.starts[mid] <= at) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Room for `entries` more entries and `bytes` more key bytes (capacity doubles). */
  private reserve (entries: number, bytes: number): void {
    const need = this.length + entries
    if (need > this.days.length) {
      const n = Math.max(need, this.days.length * 2)
      this.starts = grow(this.starts, new Uint32Array(n + 1))
      this.days = grow(this.days, new Int32Array(n))
      this.expiries = grow(this.expiries, new Float64Array(n))
      this.removed = grow(this.removed, new Uint8Array(n))
    }
    const used = this.starts[this.length]
    if (used + bytes > this.text.length) {
      const text = Buffer.allocUnsafeSlow(Math.max(used + bytes, this.text.length * 2))
      this.text.copy(text, 0, 0, used)
      this.text = text
    }
  }
}

function grow<T extends Uint32Array | Int32Array | Float64Array | Uint8Array> (from: T, to: T): T {
  to.set(from)
  return to
}
