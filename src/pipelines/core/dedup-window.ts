// The ids a stage on a peer has processed (Storm-like at-least-once, made
// mostly-once for healthy instances): a redelivered packet whose id is known
// is acked without running again. Bounded by count and by age. The ids are
// kept in arrival order in a queue beside the lookup Map, and evicted from
// the queue's head: evicting from a Map's front instead makes every later
// walk from its front step over the deleted entries (V8 keeps them until the
// table is rebuilt), quadratic once the window is full.

export interface DedupWindowInit {
  /** Ids kept at most. */
  maxIds: number
  /** An id older than this is forgotten, ms. */
  maxAgeMs: number
}

export class DedupWindow {
  /** id -> the sequence number of its latest entry in the queue. */
  private readonly seen = new Map<string, number>()
  /** The queue, oldest first: ids[i] was added at ats[i], sequence number `base + i`. */
  private ids: string[] = []
  private ats: number[] = []
  private head = 0
  private base = 0

  constructor (private readonly init: DedupWindowInit) {}

  get size (): number { return this.seen.size }

  /** Whether `id` was processed within the window. */
  has (id: string, now: number): boolean {
    const seq = this.seen.get(id)
    return seq !== undefined && now - this.ats[seq - this.base] < this.init.maxAgeMs
  }

  /** Records `id` as processed at `now`, evicting what falls out of the window. */
  add (id: string, now: number): void {
    this.seen.set(id, this.base + this.ids.length)
    this.ids.push(id)
    this.ats.push(now)
    this.evict(now)
  }

  /** Drops ids older than the window or over the count. */
  evict (now: number): void {
    while (this.head < this.ids.length && (this.seen.size > this.init.maxIds || now - this.ats[this.head] >= this.init.maxAgeMs)) {
      const id = this.ids[this.head]
      // An id added again since has a later entry: this one is stale.
      if (this.seen.get(id) === this.base + this.head) this.seen.delete(id)
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head)
      this.ats = this.ats.slice(this.head)
      this.base += this.head
      this.head = 0
    }
  }
}
