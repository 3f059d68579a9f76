// The ids a stage on a peer has processed (Storm-like at-least-once, made
// mostly-once for healthy instances): a redelivered packet whose id is known
// is acked without running again. Bounded by count and by age; a Map keeps
// insertion order, so the oldest ids are evicted from its front.

export interface DedupWindowInit {
  /** Ids kept at most. */
  maxIds: number
  /** An id older than this is forgotten, ms. */
  maxAgeMs: number
}

export class DedupWindow {
  private readonly seen = new Map<string, number>()

  constructor (private readonly init: DedupWindowInit) {}

  get size (): number { return this.seen.size }

  /** Whether `id` was processed within the window. */
  has (id: string, now: number): boolean {
    const at = this.seen.get(id)
    return at !== undefined && now - at < this.init.maxAgeMs
  }

  /** Records `id` as processed at `now`, evicting what falls out of the window. */
  add (id: string, now: number): void {
    this.seen.delete(id)
    this.seen.set(id, now)
    this.evict(now)
  }

  /** Drops ids older than the window or over the count. */
  evict (now: number): void {
    for (const [id, at] of this.seen) {
      if (this.seen.size <= this.init.maxIds && now - at < this.init.maxAgeMs) break
      this.seen.delete(id)
    }
  }
}
