import { CoalescingRunner } from '../../common/coalescing-runner.js'
import type { Startable } from '../../common/startable.js'
import { DueQueue, decideFirings, nextDecisionAt, parseScheduled } from '../schedule/index.js'
import { JOB_COMMAND_VERSION, MAX_BATCH_COMMANDS, batch, type JobCommand, type JobOp } from '../table/index.js'
import type { ScheduleDriverComponents } from './types.js'

/** Longest single timer wait, ms: a far tick is re-checked now and then (a clock that jumps, a timer that drifts). */
const MAX_WAIT_MS = 60_000
/** Wait before deciding again after a commit failed, ms. */
const RETRY_WAIT_MS = 500
/**
 * After a pass that fired, the next one waits at least this long, ms: the ticks
 * that fall due meanwhile (10,000 schedules of `every: 1 second` tick all
 * through the second) share one log entry instead of one each.
 */
export const FIRE_WINDOW_MS = 10

/**
 * The coordinator's schedule firing, active on the leader only (issue 15):
 * at each schedule's next tick, and whenever the schedules or the leadership
 * change — never on a polling tick — it decides the due ticks of the
 * schedules due now (`decideFirings`) and commits them as `fire` commands,
 * batched, each of which queues its job in the same apply. A tick is decided
 * once in the table whoever proposes it, so a new leader simply decides again.
 * The next decision time of every schedule waits in a DueQueue, so a pass
 * costs what is due, not the number of schedules: the queue is rebuilt from
 * the table when this peer takes the lead, after a schedule is added or a
 * proposal failed, and kept up from each applied `fire` in between.
 *
 * It also registers the schedules that seeds declare (their `schedule`
 * export, from the cluster catalog) and withdraws one when the catalog no
 * longer lists its seed.
 */
export class ScheduleDriver implements Startable {
  private readonly runner: CoalescingRunner
  /** When this peer last became the leader (undefined while it does not lead): ticks before it were missed. */
  private leaderSince: number | undefined
  /** Seeds whose declaration was refused, by declaration: warned once. */
  private readonly refused = new Map<string, string>()
  /** The schedules' next decision times, while this peer leads. */
  private readonly due = new DueQueue()
  /** The queue must be rebuilt from the table before it is read. */
  private stale = true
  /** The catalog changed (or the lead did): seeds' schedules to register or withdraw. */
  private seedsChanged = true

  constructor (private readonly c: ScheduleDriverComponents) {
    this.runner = new CoalescingRunner(async () => await this.pass(), err => this.c.log.warn({ err }, 'schedule pass failed'), c.clock)
  }

  async start (): Promise<void> {
    const kick = (): void => this.kick()
    this.runner.start(() => [
      this.c.coordinator.onApplied(command => { if (this.follow(command)) kick() }),
      this.c.coordinator.onLeaderChange(() => {
        this.onDuty()
        this.stale = this.seedsChanged = true
        kick()
      }),
      this.c.catalog.on('catalog:change', () => {
        this.seedsChanged = true
        kick()
      })
    ])
    kick()
  }

  async stop (): Promise<void> { this.runner.stop() }

  /** Runs a pass soon; passes never overlap (a kick during one runs another after it). */
  kick (): void { this.runner.kick() }

  /** One pass: register and withdraw seeds' schedules, fire the due ticks, arm the timer of the next one. */
  async pass (): Promise<void> {
    const { table, clock } = this.c
    const since = this.onDuty()
    if (since === undefined) return
    const now = clock.now()
    const ops: JobOp[] = []
    if (this.seedsChanged) {
      this.seedsChanged = false
      ops.push(...this.seedSchedules(now))
    }
    if (this.stale) this.rebuild()
    let hashes: Map<string, string> | undefined
    for (const id of this.due.takeDue(now)) {
      const s = table.schedule(id)
      if (s === undefined || s.state !== 'scheduled') continue
      const d = decideFirings(s, now, { since })
      if (d.fire.length === 0 && d.skipThrough === undefined) {
        this.due.set(id, nextDecisionAt(s))
        continue
      }
      hashes ??= new Map(this.c.catalog.list().map(seed => [seed.name, seed.hash]))
      const seedHash = hashes.get(s.template.seed)
      ops.push({
        type: 'fire', v: JOB_COMMAND_VERSION, at: now, scheduleId: s.scheduleId, ticks: d.fire,
        ...(d.skipThrough !== undefined ? { skipThrough: d.skipThrough } : {}), ...(seedHash !== undefined ? { seedHash } : {})
      })
    }
    try {
      for (let i = 0; i < ops.length; i += MAX_BATCH_COMMANDS) {
        await this.c.coordinator.propose(batch(ops.slice(i, i + MAX_BATCH_COMMANDS)))
      }
      this.arm(ops.length > 0 ? FIRE_WINDOW_MS : 0)
    } catch (err) {
      // The schedules taken out of the queue may not have fired: the queue is rebuilt from the table.
      this.stale = this.seedsChanged = true
      this.arm(RETRY_WAIT_MS) // still leading after a failed commit: try again, not in a tight loop
      throw err
    }
  }

  /**
   * Keeps the queue up with an applied command; whether a pass should run
   * (the schedules changed). A peer that does not lead only notes that its
   * queue is stale.
   */
  private follow (command: JobCommand): boolean {
    const ops = command.type === 'batch' ? command.commands : [command]
    let changed = false
    for (const op of ops) {
      if (op.type === 'fire') {
        // No pass for it: a fire only moves a schedule's next tick later, and the armed timer (or the window after our own pass) runs the next one.
        const s = this.leaderSince === undefined ? undefined : this.c.table.schedule(op.scheduleId)
        if (s !== undefined && s.state === 'scheduled') this.due.set(s.scheduleId, nextDecisionAt(s))
      } else if (op.type === 'schedule') {
        changed = this.stale = true
      } else if (op.type === 'cancel' || op.type === 'prune') {
        changed = true
      }
    }
    if (this.leaderSince === undefined) this.stale = true
    return changed
  }

  /** The queue from the table: every live schedule at its next decision time. */
  private rebuild (): void {
    this.stale = false
    this.due.clear()
    for (const s of this.c.table.schedules()) if (s.state === 'scheduled') this.due.set(s.scheduleId, nextDecisionAt(s))
  }

  /** Notes when this peer took the lead (or that it lost it); when it did, undefined while it does not lead. */
  private onDuty (): number | undefined {
    if (!this.c.coordinator.isLeader()) this.leaderSince = undefined
    else this.leaderSince ??= this.c.clock.now()
    return this.leaderSince
  }

  /** `schedule` commands for seeds that declare one and have none, `cancel` for seed schedules whose seed is gone. */
  private * seedSchedules (now: number): Iterable<JobOp> {
    const { table, catalog } = this.c
    const seeds = catalog.list()
    for (const seed of seeds) {
      if (seed.schedule === undefined || !seed.launchable || table.scheduleOfSeed(seed.name) !== undefined) continue
      const parsed = parseScheduled(seed.schedule)
      if (!parsed.ok) {
        const said = JSON.stringify(seed.schedule)
        if (this.refused.get(seed.name) !== said) this.c.log.warn({ seed: seed.name, schedule: seed.schedule, error: parsed.msg }, 'a seed declares a schedule that cannot be used')
        this.refused.set(seed.name, said)
        continue
      }
      const { timeoutMs, retries } = seed.limits
      yield {
        type: 'schedule', v: JOB_COMMAND_VERSION, at: now, fromSeed: seed.name, spec: parsed.spec,
        template: { seed: seed.name, seedHash: seed.hash, args: {}, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(retries !== undefined ? { retries } : {}) }
      }
    }
    const declared = new Set(seeds.filter(s => s.schedule !== undefined).map(s => s.name))
    for (const s of table.schedules()) {
      if (s.state === 'scheduled' && s.fromSeed !== undefined && !declared.has(s.fromSeed)) {
        yield { type: 'cancel', v: JOB_COMMAND_VERSION, at: now, jobId: s.scheduleId, reason: 'the seed no longer declares it' }
      }
    }
  }

  /** The timer of the next tick to decide, at least `minWaitMs` away. */
  private arm (minWaitMs: number): void {
    // A stale queue (a proposal failed) is rebuilt by the next pass, after the wait.
    const next = this.stale ? this.c.clock.now() : this.due.next()
    if (next === undefined) { this.runner.wakeAt(undefined); return }
    const now = this.c.clock.now()
    this.runner.wakeAt(now + Math.min(MAX_WAIT_MS, Math.max(minWaitMs, next - now)))
  }
}
