import { MAX_RELAY_LINE_CHARS, MAX_RELAY_LINES } from '../table/index.js'

/**
 * The log lines of a running attempt not yet relayed: the worker hands them
 * to its next progress or heartbeat report (`lines`), so that followers of
 * the job hear them live. Bounded: past MAX_RELAY_LINES the oldest are
 * dropped and the next batch starts with a line saying how many.
 */
export class LogRelay {
  private lines: string[] = []
  private dropped = 0

  get size (): number { return this.lines.length }

  push (line: string): void {
    this.lines.push(line.length > MAX_RELAY_LINE_CHARS ? `${line.slice(0, MAX_RELAY_LINE_CHARS - 6)} [cut]` : line)
    // One slot is kept for the marker line.
    if (this.lines.length > MAX_RELAY_LINES - 1) {
      this.lines.shift()
      this.dropped++
    }
  }

  /** The lines to relay now (and forgets them), or undefined when there are none. */
  take (): string[] | undefined {
    if (this.lines.length === 0 && this.dropped === 0) return undefined
    const out = this.dropped > 0 ? [`[${this.dropped} log lines not relayed]`, ...this.lines] : this.lines
    this.lines = []
    this.dropped = 0
    return out
  }
}
