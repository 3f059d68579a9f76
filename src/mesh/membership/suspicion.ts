import type { Clock, Timer } from '../../common/clock.js'
import { suspicionTimeout } from './rules.js'

/**
 * Lifeguard's suspicion timer: it starts at `maxMs` and shrinks towards
 * `minMs` as distinct peers confirm the suspicion, so that a member many
 * peers cannot reach is declared dead sooner, and one suspected by a single
 * slow peer has longer to refute.
 */
export class Suspicion {
  private readonly confirmers = new Set<string>()
  private readonly start: number
  private timer: Timer

  constructor (
    private readonly clock: Clock,
    from: string | undefined,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void
  ) {
    if (from !== undefined) this.confirmers.add(from)
    this.start = clock.monotonic()
    this.timer = clock.setTimeout(onTimeout, suspicionTimeout(minMs, maxMs, k, 0))
  }

  /** Counts a confirmation from `from`; true when it was a new peer (the suspicion is then worth gossiping again). */
  confirm (from: string): boolean {
    if (this.confirmers.has(from)) return false
    this.confirmers.add(from)
    if (this.k < 1) return true
    // The first suspecter is not a confirmation (memberlist counts confirmers beyond it).
    const c = Math.min(this.k, this.confirmers.size - 1)
    const remaining = this.start + suspicionTimeout(this.minMs, this.maxMs, this.k, c) - this.clock.monotonic()
    this.timer.cancel()
    this.timer = this.clock.setTimeout(this.onTimeout, Math.max(0, remaining))
    return true
  }

  cancel (): void { this.timer.cancel() }
}
