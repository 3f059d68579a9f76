// The bounded priority inbox of one stage on one peer (Impetus). Higher
// priorities are served first; a packet waiting gains one level per
// `agingMs`, so a steady stream of high priorities never starves the low
// ones. A key's packets are served one at a time, in arrival order: while one
// runs (its key is locked), the next waits behind it and only becomes
// eligible on `release`. Pure data structure; time is passed in.
import { MinHeap } from '../../common/min-heap.js'
import { MAX_PRIORITY, MIN_PRIORITY } from '../types.js'

/** A packet waiting, with where it came from. */
export interface InboxItem<T = unknown> {
  id: string
  key?: string
  priority: number
  /** When it arrived, ms (aging counts from here, across requeues). */
  at: number
  value: T
}

interface Slot<T> { item: InboxItem<T>, seq: number }
interface KeyState<T> { ready: boolean, running: boolean, waiting: Array<Slot<T>> }

export interface InboxInit {
  capacity: number
  agingMs: number
}

export class Inbox<T = unknown> {
  /** One heap per priority level, ordered by arrival sequence. */
  private readonly levels: Array<MinHeap<Slot<T>>> = Array.from({ length: MAX_PRIORITY - MIN_PRIORITY + 1 }, () => new MinHeap<Slot<T>>((a, b) => a.seq < b.seq))
  private readonly keys = new Map<string, KeyState<T>>()
  private readonly ids = new Set<string>()
  private seq = 0

  constructor (private readonly init: InboxInit) {}

  /** Packets waiting (not running). */
  get size (): number { return this.ids.size }
  get capacity (): number { return this.init.capacity }
  has (id: string): boolean { return this.ids.has(id) }

  /** Queues `item`; false when the inbox is full (the receiver nacks). */
  offer (item: InboxItem<T>): boolean {
    if (this.ids.size >= this.init.capacity || this.ids.has(item.id)) return false
    this.ids.add(item.id)
    this.place({ item, seq: this.seq++ })
    return true
  }

  /**
   * Puts back a packet taken earlier (a retry after a failed run), ahead of
   * its key's later packets, and unlocks the key. Ignores the capacity.
   */
  requeue (item: InboxItem<T>): void {
    if (this.ids.has(item.id)) return
    this.ids.add(item.id)
    const slot = { item, seq: -1 - this.seq++ } // older than anything of its level: it came first
    if (item.key === undefined) { this.push(slot); return }
    const k = this.keyState(item.key)
    k.running = false
    if (k.ready) { k.waiting.unshift(slot); return }
    k.ready = true
    this.push(slot)
  }

  /** The next packet to run at `now` (locking its key), or undefined. */
  take (now: number): InboxItem<T> | undefined {
    let best: MinHeap<Slot<T>> | undefined
    let bestScore = -Infinity
    let bestSeq = Infinity
    for (const heap of this.levels) {
      const top = heap.peek()
      if (top === undefined) continue
      const score = top.item.priority + Math.floor(Math.max(0, now - top.item.at) / this.init.agingMs)
      if (score > bestScore || (score === bestScore && top.seq < bestSeq)) { best = heap; bestScore = score; bestSeq = top.seq }
    }
    if (best === undefined) return undefined
    const { item } = best.pop() as Slot<T>
    this.ids.delete(item.id)
    if (item.key !== undefined) {
      const k = this.keyState(item.key)
      k.ready = false
      k.running = true
    }
    return item
  }

  /** The packet of `key` that ran has finished: its next packet becomes eligible. */
  release (key: string | undefined): void {
    if (key === undefined) return
    const k = this.keys.get(key)
    if (k === undefined) return
    k.running = false
    const next = k.waiting.shift()
    if (next !== undefined) { k.ready = true; this.push(next) } else if (!k.ready) this.keys.delete(key)
  }

  /** Empties the inbox (kill): every waiting packet, oldest first. Running keys stay locked until released. */
  drain (): Array<InboxItem<T>> {
    const out: Array<Slot<T>> = []
    for (const heap of this.levels) out.push(...heap.clear())
    for (const [key, k] of this.keys) {
      out.push(...k.waiting.splice(0))
      k.ready = false
      if (!k.running) this.keys.delete(key)
    }
    this.ids.clear()
    return out.sort((a, b) => a.seq - b.seq).map(s => s.item)
  }

  private place (slot: Slot<T>): void {
    const key = slot.item.key
    if (key === undefined) { this.push(slot); return }
    const k = this.keyState(key)
    if (k.ready || k.running) {
      k.waiting.push(slot)
      return
    }
    k.ready = true
    this.push(slot)
  }

  private keyState (key: string): KeyState<T> {
    let k = this.keys.get(key)
    if (k === undefined) { k = { ready: false, running: false, waiting: [] }; this.keys.set(key, k) }
    return k
  }

  private push (slot: Slot<T>): void {
    const p = Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, slot.item.priority)) - MIN_PRIORITY
    this.levels[p].push(slot)
  }
}
