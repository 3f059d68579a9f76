/**
 * At most `limit` events per window of `windowMs` pass; the rest are counted
 * as dropped until `takeDropped` collects the count. Windows start at the
 * first event after the previous one ended (fixed windows, no timer: the
 * caller owns the clock and reports the drops).
 */
export class RateSampler {
  private windowStart = Number.NEGATIVE_INFINITY
  private passed = 0
  private dropped = 0

  constructor (private readonly limit: number, private readonly windowMs = 1000) {}

  /** Whether an event at `now` (ms) passes; false counts it as dropped. */
  offer (now: number): boolean {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now
      this.passed = 0
    }
    if (this.passed < this.limit) {
      this.passed++
      return true
    }
    this.dropped++
    return false
  }

  /** The events dropped since the last call. */
  takeDropped (): number {
    const n = this.dropped
    this.dropped = 0
    return n
  }
}
