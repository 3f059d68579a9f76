// The ids a stage on a peer has processed (Storm-like at-least-once, made
// mostly-once for healthy instances): a redelivered packet whose id is known
// is acked without running again. Bounded by count and by age.
//
// Recording is cheap and lookups are rare: only a packet that may have
// reached this stage before (sent again, or made again from an input that
// was: the `again` flag of the wire) is looked up, so the ids are kept in
// arrival order in a queue, and the lookup index (id -> its latest entry) is
// built from the queue at the first lookup and kept up to date while lookups
// come; once a whole window's worth of ids was added without one, it is
// dropped again. Evicting is from the queue's head: evicting from a Map's
// front instead makes every later walk from its front step over the deleted
// entries (V8 keeps them until the table is rebuilt), quadratic once full.

export interface DedupWindowInit {
  /** Ids kept at most. */
  maxIds: number
  /** An id older than this is forgotten, ms. */
  maxAgeMs: number
}

export class DedupWindow {
  /** id -> the sequence number of its latest entry in the queue; built at a lookup, undefined while none comes. */
  private index: Map<string, number> | undefined
  /** Ids added since the last lookup (the index goes once a window's worth passed without one). */
  private addsSinceLookup = 0
  /** The queue, oldest first: ids[i] was added at ats[i], sequence number `base + i`. */
  private ids: string[] = []
  private ats: number[] = []
  private head = 0
  private base = 0

  constructor (private readonly init: DedupWindowInit) {}

  /** Entries in the window (an id added twice counts twice until the index is built). */
  get size (): number { return this.index?.size ?? this.ids.length - this.head }
  /** Whether the lookup index exists now (tests). */
  get indexed (): boolean { return this.index !== undefined }

  /** Whether `id` was processed within the window. */
  has (id: string, now: number): boolean {
    this.addsSinceLookup = 0
    const seq = this.lookup().get(id)
    return seq !== undefined && now - this.ats[seq - this.base] < this.init.maxAgeMs
  }

  /** Records `id` as processed at `now`, evicting what falls out of the window. */
  add (id: string, now: number): void {
    this.index?.set(id, this.base + this.ids.length)
    this.ids.push(id)
    this.ats.push(now)
    if (this.index !== undefined && ++this.addsSinceLookup > this.init.maxIds) this.index = undefined
    this.evict(now)
  }

  /** Drops ids older than the window or over the count. */
  evict (now: number): void {
    while (this.head < this.ids.length && (this.size > this.init.maxIds || now - this.ats[this.head] >= this.init.maxAgeMs)) {
      const id = this.ids[this.head]
      // An id added again since has a later entry: this one is stale.
      if (this.index?.get(id) === this.base + this.head) this.index.delete(id)
      this.head++
    }
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head)
      this.ats = this.ats.slice(this.head)
      this.base += this.head
      this.head = 0
    }
  }

  private lookup (): Map<string, number> {
    if (this.index !== undefined) return this.index
    const index = new Map<string, number>()
    for (let i = this.head; i < this.ids.length; i++) index.set(this.ids[i], this.base + i)
    this.index = index
    return index
  }
}
