// The counters a stage shows in the status: processed, failed, the rate over
// the last few seconds, the last errors.
import type { Clock } from '../common/clock.js'
import { RATE_WINDOW_MS, STATUS_ERRORS } from './constants.js'

const BUCKET_MS = 1_000

export class StageStats {
  private done = 0
  private fails = 0
  private readonly errors: string[] = []
  /** Processed per second-bucket: [bucket start, count]. */
  private readonly buckets: Array<[number, number]> = []

  constructor (private readonly clock: Clock) {}

  processed (): void {
    this.done++
    const at = Math.floor(this.clock.now() / BUCKET_MS) * BUCKET_MS
    const last = this.buckets[this.buckets.length - 1]
    if (last !== undefined && last[0] === at) last[1]++
    else this.buckets.push([at, 1])
    while (this.buckets.length > RATE_WINDOW_MS / BUCKET_MS + 1) this.buckets.shift()
  }

  failed (error: string): void {
    this.fails++
    this.errors.unshift(error.split('\n')[0].slice(0, 500))
    if (this.errors.length > STATUS_ERRORS) this.errors.pop()
  }

  snapshot (): { processed: number, failed: number, ratePerS: number, errors: string[] } {
    const since = this.clock.now() - RATE_WINDOW_MS
    const recent = this.buckets.filter(([at]) => at >= since).reduce((n, [, c]) => n + c, 0)
    return { processed: this.done, failed: this.fails, ratePerS: recent / (RATE_WINDOW_MS / 1_000), errors: [...this.errors] }
  }
}
