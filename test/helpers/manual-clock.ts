import type { Clock, Timer } from '../../src/common/clock.js'

interface Scheduled { at: number, seq: number, fn: () => void, every?: number, cancelled: boolean }

/** A clock that only moves when told to; advance(ms) fires due timers in time order. */
export class ManualClock implements Clock {
  private time: number
  private seq = 0
  private timers: Scheduled[] = []

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
    for (;;) {
      this.timers = this.timers.filter(t => !t.cancelled)
      const next = this.timers.filter(t => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (next === undefined) break
      this.time = next.at
      if (next.every !== undefined) next.at += next.every
      else next.cancelled = true
      next.fn()
    }
    this.time = end
  }

  private schedule (fn: () => void, ms: number, every?: number): Timer {
    const t: Scheduled = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, every, cancelled: false }
    this.timers.push(t)
    return { cancel: () => { t.cancelled = true } }
  }
}
