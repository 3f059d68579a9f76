import type { Timer } from '../../common/clock.js'
import type { Startable } from '../../common/startable.js'
import { JOB_COMMAND_VERSION, type JobOutcome } from '../table/index.js'
import type { HistoryPrunerComponents, HistoryPrunerInit } from './types.js'

const DAY_MS = 24 * 60 * 60 * 1000
/** How often the leader prunes the job history, ms (retention is counted in days: hourly is fine-grained enough). */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000

/**
 * History retention (`[general] retention_policy`, days, as Pulzar's): while
 * this peer leads the coordinator, it commits a `prune` of the final jobs
 * that ended more than `retentionDays` ago, when it takes over and then every
 * PRUNE_INTERVAL_MS on the injected clock (no polling loop: one timer, armed
 * only while leading). Every replica applies the prune, and the next Raft
 * snapshot is taken from the pruned table, so the history leaves the log too.
 */
export class HistoryPruner implements Startable {
  private readonly c: HistoryPrunerComponents
  private readonly retentionMs: number
  private readonly intervalMs: number
  private timer: Timer | undefined
  private off: (() => void) | undefined
  private stopped = true

  constructor (components: HistoryPrunerComponents, init: HistoryPrunerInit) {
    this.c = components
    this.retentionMs = init.retentionDays * DAY_MS
    this.intervalMs = init.intervalMs ?? PRUNE_INTERVAL_MS
  }

  async start (): Promise<void> {
    if (!this.stopped) return
    this.stopped = false
    this.off = this.c.coordinator.onLeaderChange(() => this.follow())
    this.follow()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.off?.()
    this.off = undefined
    this.timer?.cancel()
    this.timer = undefined
  }

  /** Arms the timer (and prunes at once) on becoming leader; disarms it on losing leadership. */
  private follow (): void {
    const leading = !this.stopped && this.c.coordinator.isLeader()
    if (leading && this.timer === undefined) {
      this.timer = this.c.clock.setInterval(() => this.prune(), this.intervalMs)
      this.prune()
    } else if (!leading && this.timer !== undefined) {
      this.timer.cancel()
      this.timer = undefined
    }
  }

  private prune (): void {
    if (!this.c.coordinator.isLeader()) return
    const at = this.c.clock.now()
    this.c.coordinator.propose({ type: 'prune', v: JOB_COMMAND_VERSION, at, before: at - this.retentionMs })
      .then(({ result }) => {
        const pruned = (result as JobOutcome & { pruned?: number }).pruned ?? 0
        if (pruned > 0) this.c.log.info({ pruned, retentionDays: this.retentionMs / DAY_MS }, 'job history pruned')
      })
      .catch(err => this.c.log.warn({ err }, 'job history prune not committed; next one in an interval'))
  }
}
