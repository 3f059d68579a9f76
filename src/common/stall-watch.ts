import type { Clock, Timer } from './clock.js'
import type { Logger } from './logger.js'
import type { Startable } from './startable.js'

/** How often the watch looks at the event loop, ms (each look is a wake-up of an idle peer: 4 a second). */
export const STALL_TICK_MS = 250
/** A turn late by more than this is logged (a third of the shortest election timeout), ms. */
const STALL_MS = 200

/**
 * Logs when this process's event loop was held up: a timer due every
 * STALL_TICK_MS that fires STALL_MS late means nothing else (heartbeats,
 * replies, timers) ran meanwhile — a long synchronous task, a GC pause, or
 * a machine so busy that the process was not scheduled. One warn line per
 * stall, with how late it was; what an operator needs when a coordinator
 * changes hands under load.
 */
export class StallWatch implements Startable {
  private timer: Timer | undefined
  private last = 0

  constructor (private readonly c: { clock: Clock, log: Logger }, private readonly stallMs = STALL_MS) {}

  async start (): Promise<void> {
    this.last = this.c.clock.now()
    this.timer = this.c.clock.setInterval(() => {
      const now = this.c.clock.now()
      const late = now - this.last - STALL_TICK_MS
      this.last = now
      if (late > this.stallMs) this.c.log.warn({ lateMs: late }, 'event loop stalled')
    }, STALL_TICK_MS)
  }

  async stop (): Promise<void> { this.timer?.cancel() }
}
