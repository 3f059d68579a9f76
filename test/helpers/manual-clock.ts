import type { Clock, Timer } from '../../src/common/clock.js'
import { MinHeap } from '../../src/common/min-heap.js'

interface Scheduled { at: number, seq: number, fn: () => void, every?: number, cancelled: boolean }

/**
 * A clock that only moves when told to. `advance(ms)` fires due timers in
 * time order, synchronously; `advanceAsync(ms)` also lets promises settle
 * after each instant, for code that awaits between timers.
 */
export class ManualClock implements Clock {
  private time: number
  private seq = 0
  /** Timers by (at, seq). */
  private readonly heap = new MinHeap<Scheduled>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))

  constructor (start = Date.UTC(2026, 0, 1)) { this.time = start }

  now (): number { return this.time }
  monotonic (): number { return this.time }

  setTimeout (fn: () => void, ms: number): Timer { return this.schedule(fn, ms) }
  setInterval (fn: () => void, ms: number): Timer { return this.schedule(fn, ms, Math.max(1, ms)) }

  /** Sets the wall clock (even backwards, as NTP may) without firing timers. */
  set (ms: number): void { this.time = ms }

  /** Moves time forward by `ms`, running every timer that falls due, in order. */
  advance (ms: number): void {
    const end = this.time + ms
    for (let t = this.nextDue(end); t !== undefined; t = this.nextDue(end)) this.fire(t)
    this.time = end
  }

  /** Like advance, but settles pending promises after each instant at which timers fired. */
  async advanceAsync (ms: number): Promise<void> {
    const end = this.time + ms
    await settle()
    for (let t = this.nextDue(end); t !== undefined; t = this.nextDue(end)) {
      const at = t.at
      this.fire(t)
      for (let more = this.nextDue(at); more !== undefined; more = this.nextDue(at)) this.fire(more)
      await settle()
    }
    this.time = end
  }

  /** Timers not yet fired or cancelled. */
  pendingTimers (): number { return this.heap.values().filter(t => !t.cancelled).length }

  private fire (t: Scheduled): void {
    this.time = t.at
    if (t.every !== undefined) {
      t.at += t.every
      t.seq = this.seq++
      this.heap.push(t)
    } else {
      t.cancelled = true
    }
    t.fn()
  }

  private nextDue (end: number): Scheduled | undefined {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (top.cancelled) { this.heap.pop(); continue }
      if (top.at > end) return undefined
      return this.heap.pop()
    }
    return undefined
  }

  private schedule (fn: () => void, ms: number, every?: number): Timer {
    const t: Scheduled = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, every, cancelled: false }
    this.heap.push(t)
    return { cancel: () => { t.cancelled = true } }
  }
}

/** Lets every queued promise continuation run (a macrotask turn drains the microtask queue). */
async function settle (): Promise<void> {
  await new Promise<void>(resolve => setImmediate(resolve))
}
