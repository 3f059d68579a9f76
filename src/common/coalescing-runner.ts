import type { Clock, Timer } from './clock.js'

/**
 * Runs an async pass on demand, never two at once: a kick while a pass runs
 * asks for one more pass after it, however many kicks came (they coalesce).
 * What the drivers of the coordinator use so that every change triggers a
 * pass without passes piling up. It also holds what kicks it: the
 * subscriptions given to start() (undone by stop()) and one wake timer
 * (wakeAt), so that a driver keeps none of that state itself.
 */
export class CoalescingRunner {
  private busy = false
  private again = false
  private isStopped = true
  private offs: Array<() => void> = []
  private wake: Timer | undefined

  constructor (
    private readonly pass: () => Promise<void>,
    /** Hears a pass that threw; the next kick runs again. */
    private readonly onError: (err: unknown) => void,
    /** The clock of wakeAt(); without it, wakeAt() is not available. */
    private readonly clock?: Clock
  ) {}

  /** Lets kicks run passes; `subscribe` registers what kicks it (each returns its unsubscribe). */
  start (subscribe?: () => Array<() => void>): void {
    this.isStopped = false
    this.offs = subscribe?.() ?? []
  }

  /** No pass starts after this (a running one finishes); the subscriptions and the wake timer are undone. */
  stop (): void {
    this.isStopped = true
    for (const off of this.offs) off()
    this.offs = []
    this.wakeAt(undefined)
  }

  get stopped (): boolean { return this.isStopped }

  /** Kicks at `at` (ms of the clock), replacing the wake set before; undefined only cancels it. */
  wakeAt (at: number | undefined): void {
    this.wake?.cancel()
    this.wake = undefined
    if (at === undefined || this.isStopped || this.clock === undefined) return
    this.wake = this.clock.setTimeout(() => { this.wake = undefined; this.kick() }, Math.max(0, at - this.clock.now()))
  }

  /** Runs a pass soon, or one more after the running one. */
  kick (): void {
    if (this.isStopped) return
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    void (async () => {
      do {
        this.again = false
        try { await this.pass() } catch (err) { this.onError(err) }
      } while (this.again && !this.isStopped)
      this.busy = false
    })()
  }
}
