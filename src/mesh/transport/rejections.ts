import type { EventEmitter } from 'node:events'
import type { Router } from 'zeromq'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { closingRemotes } from './closed-remotes.js'
import { MAX_LOGGED_REMOTES, REFUSED_WARN_INTERVAL_MS, REJECT_LOG_INTERVAL_MS, REJECT_SUMMARY_INTERVAL_MS } from './constants.js'
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

type RouterEvents = Router['events']

export interface RejectReporterInit {
  /** The mesh port, whose refused connections are looked up by remote address. */
  localPort: () => number
  /** @default REJECT_SUMMARY_INTERVAL_MS */
  intervalMs?: number
  /** Remote `ip:port` of the closing connections to a local port (Linux /proc by default). */
  closingRemotes?: (port: number) => string[]
}

interface Window { count: number, connections: number, reasons: Record<string, number>, remotes: Set<string>, unnamed: boolean }

const emptyWindow = (): Window => ({ count: 0, connections: 0, reasons: {}, remotes: new Set(), unnamed: false })

/**
 * Reports refused traffic: a 'transport:rejected' event for every failed
 * handshake, ZAP denial or malformed frame; in the log, the first after a
 * quiet interval at once and then one summary line per interval with the
 * count, the reasons and the remote addresses, so that a flood of random
 * bytes costs a few lines.
 *
 * Most garbage never gets a handshake error from libzmq (the connection just
 * closes), so refused connections are counted from the ROUTER's events: a
 * connection accepted that closes without a handshake. libzmq names no remote
 * for them: those come from the connections to the mesh port that were just
 * closed (see closingRemotes).
 *
 * Also warns, at most once a minute per address, when a peer we dial refuses
 * our handshake: the sign of a wrong cluster key or name on one side.
 */
export class RejectReporter {
  private window: Window | undefined
  /** Reasons and remotes seen before anything counted (a failed handshake comes before its close). */
  private pending: Window | undefined
  private timer: Timer | undefined
  /** Connections accepted, handshakes completed, and connections already counted as refused. */
  private accepts = 0
  private handshakes = 0
  private refused = 0
  private closingSeen = new Set<string>()
  private readonly refusedAt = new Map<string, number>()
  private readonly intervalMs: number
  private readonly closing: (port: number) => string[]

  constructor (private readonly clock: Clock, private readonly log: Logger, private readonly events: EventEmitter, private readonly init: RejectReporterInit) {
    this.intervalMs = init.intervalMs ?? REJECT_SUMMARY_INTERVAL_MS
    this.closing = init.closingRemotes ?? closingRemotes
  }

  /** Follows a ROUTER's connections: accepted, handshaked, closed, and handshakes that failed. */
  watch (events: RouterEvents): void {
    events.on('accept', () => { this.accepts++ })
    events.on('handshake', () => { this.handshakes++ })
    events.on('disconnect', () => { this.closed() })
    events.on('handshake:error:protocol', e => { this.report(undefined, `handshake failed: ${e.error.code}`, false) })
    events.on('handshake:error:other', e => { this.report(undefined, `handshake failed: ${(e.error as { code?: unknown }).code ?? e.error.message}`, false) })
    // 'handshake:error:auth' follows a ZAP denial, already reported with the remote address.
  }

  /**
   * Refused traffic. `counts`: false for a failed handshake, whose
   * connection is counted when it closes (ZAP denials and malformed frames count here).
   */
  report (remote: string | undefined, reason: string, counts = true): void {
    const e: TransportRejectEvent = remote === undefined ? { type: 'rejected', reason } : { type: 'rejected', remote, reason }
    try {
      this.events.emit('transport:rejected', e)
    } catch (err) {
      this.log.error({ err }, 'transport:rejected listener failed')
    }
    const w = this.window ?? (this.pending ??= emptyWindow())
    w.reasons[reason] = (w.reasons[reason] ?? 0) + 1
    if (remote !== undefined) this.addRemote(w, remote)
    else w.unnamed = true
    if (counts) this.count(0)
  }

  /** A connection closed: one that never completed a handshake was refused. */
  private closed (): void {
    const fresh = this.accepts - this.handshakes - this.refused
    if (fresh <= 0) return
    this.refused += fresh
    this.count(fresh)
  }

  /** Counts into the window; the first count after a quiet interval is logged at once. */
  private count (connections: number): void {
    const first = this.window === undefined
    const w = this.window ??= this.pending ?? emptyWindow()
    this.pending = undefined
    w.count += Math.max(1, connections)
    w.connections += connections
    if (connections > 0) w.unnamed = true
    if (!first) return
    this.flush()
    this.timer = this.clock.setTimeout(this.onInterval, this.intervalMs)
  }

  /** A peer we dialled refused our handshake. */
  refusedBy (address: string, reason: string): void {
    const now = this.clock.monotonic()
    const last = this.refusedAt.get(address)
    if (last !== undefined && now - last < REFUSED_WARN_INTERVAL_MS) return
    if (this.refusedAt.size >= 1024) this.refusedAt.clear()
    this.refusedAt.set(address, now)
    this.log.warn({ peer: address, reason }, 'mesh peer refuses our handshake: is its cluster key or name different from ours?')
  }

  /** Logs what is counted and stops the interval. */
  stop (): void {
    this.timer?.cancel()
    this.timer = undefined
    if (this.window !== undefined && this.window.count > 0) this.flush()
    this.window = undefined
  }

  private readonly onInterval = (): void => {
    this.timer = undefined
    if (this.window === undefined || this.window.count === 0) {
      this.window = undefined
      return
    }
    this.flush()
    this.timer = this.clock.setTimeout(this.onInterval, this.intervalMs)
  }

  /** One line for the window, which starts again empty. */
  private flush (): void {
    const w = this.window as Window
    if (w.unnamed) for (const r of this.newlyClosing()) this.addRemote(w, r)
    this.log.warn({ count: w.count, connections: w.connections, reasons: w.reasons, remotes: [...w.remotes], intervalMs: this.intervalMs }, 'mesh traffic rejected')
    this.window = emptyWindow()
  }

  private addRemote (w: Window, remote: string): void {
    if (w.remotes.size < MAX_LOGGED_REMOTES) w.remotes.add(remote)
  }

  /** Closing connections to the mesh port not seen at the last look. */
  private newlyClosing (): string[] {
    let now: string[]
    try {
      now = this.closing(this.init.localPort())
    } catch {
      return []
    }
    const fresh = now.filter(r => !this.closingSeen.has(r))
    this.closingSeen = new Set(now)
    return fresh
  }
}
