import type { EventEmitter } from 'node:events'
import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { REJECT_LOG_INTERVAL_MS } from './constants.js'
import type { TransportRejectEvent } from './types.js'

/** Lets one log line through per REJECT_LOG_INTERVAL_MS and counts the others, so a flood cannot flood the log. */
export class LogLimiter {
  private last = -Infinity
  private suppressed = 0

  constructor (private readonly clock: Clock) {}

  /** The number of lines left out since the last one, or undefined when this one is left out too. */
  take (): number | undefined {
    const now = this.clock.monotonic()
    if (now - this.last < REJECT_LOG_INTERVAL_MS) {
      this.suppressed++
      return undefined
    }
    const suppressed = this.suppressed
    this.last = now
    this.suppressed = 0
    return suppressed
  }
}

/**
 * Reports refused traffic (a failed handshake, a key ZAP refused, a malformed
 * frame): a 'transport:rejected' event for every one, a rate-limited log line.
 */
export class RejectReporter {
  private readonly limiter: LogLimiter

  constructor (clock: Clock, private readonly log: Logger, private readonly events: EventEmitter) {
    this.limiter = new LogLimiter(clock)
  }

  report (remote: string | undefined, reason: string): void {
    const e: TransportRejectEvent = remote === undefined ? { type: 'rejected', reason } : { type: 'rejected', remote, reason }
    try {
      this.events.emit('transport:rejected', e)
    } catch (err) {
      this.log.error({ err }, 'transport:rejected listener failed')
    }
    const suppressed = this.limiter.take()
    if (suppressed !== undefined) this.log.warn({ remote, reason, suppressed }, 'mesh traffic rejected')
  }
}
