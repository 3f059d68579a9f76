/**
 * Runs an async pass on demand, never two at once: a kick while a pass runs
 * asks for one more pass after it, however many kicks came (they coalesce).
 * What the drivers of the coordinator use so that every change triggers a
 * pass without passes piling up.
 */
export class CoalescingRunner {
  private busy = false
  private again = false
  private stopped = true

  constructor (
    private readonly pass: () => Promise<void>,
    /** Hears a pass that threw; the next kick runs again. */
    private readonly onError: (err: unknown) => void
  ) {}

  /** Lets kicks run passes. */
  start (): void { this.stopped = false }

  /** No pass starts after this (a running one finishes). */
  stop (): void { this.stopped = true }

  /** Runs a pass soon, or one more after the running one. */
  kick (): void {
    if (this.stopped) return
    if (this.busy) {
      this.again = true
      return
    }
    this.busy = true
    void (async () => {
      do {
        this.again = false
        try { await this.pass() } catch (err) { this.onError(err) }
      } while (this.again && !this.stopped)
      this.busy = false
    })()
  }
}
