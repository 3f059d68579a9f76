import type { Timer } from '../../common/clock.js'
import { CoalescingRunner } from '../../common/coalescing-runner.js'
import type { Startable } from '../../common/startable.js'
import { decideFirings, nextDecisionAt, parseScheduled } from '../schedule/index.js'
import { JOB_COMMAND_VERSION, MAX_BATCH_COMMANDS, batch, type JobOp } from '../table/index.js'
import type { ScheduleDriverComponents } from './types.js'

/** Commands after which the next firing may have changed. */
const KICKS = new Set(['schedule', 'fire', 'cancel', 'batch', 'prune'])
/** Longest single timer wait, ms: a far tick is re-checked now and then (a clock that jumps, a timer that drifts). */
const MAX_WAIT_MS = 60_000
/** Wait before deciding again after a commit failed, ms. */
const RETRY_WAIT_MS = 500

/**
 * The coordinator's schedule firing, active on the leader only (issue 15):
 * at each schedule's next tick, and whenever the schedules or the leadership
 * change — never on a polling tick — it decides the due ticks of every
 * schedule (`decideFirings`) and commits them as `fire` commands, batched,
 * each of which queues its job in the same apply. A tick is decided once in
 * the table whoever proposes it, so a new leader simply decides again.
 *
 * It also registers the schedules that seeds declare (their `schedule`
 * export, from the cluster catalog) and withdraws one when the catalog no
 * longer lists its seed.
 */
export class ScheduleDriver implements Startable {
  private offs: Array<() => void> = []
  private readonly runner = new CoalescingRunner(async () => await this.pass(), err => this.c.log.warn({ err }, 'schedule pass failed'))
  private stopped = true
  private wake: Timer | undefined
  /** When this peer last became the leader (undefined while it does not lead): ticks before it were missed. */
  private leaderSince: number | undefined
  /** Seeds whose declaration was refused, by declaration: warned once. */
  private readonly refused = new Map<string, string>()

  constructor (private readonly c: ScheduleDriverComponents) {}

  async start (): Promise<void> {
    this.stopped = false
    this.runner.start()
    const kick = (): void => this.kick()
    this.offs = [
      this.c.coordinator.onApplied(command => { if (KICKS.has(command.type)) kick() }),
      this.c.coordinator.onLeaderChange(() => {
        this.onDuty()
        kick()
      }),
      this.c.catalog.on('catalog:change', kick)
    ]
    kick()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.runner.stop()
    for (const off of this.offs) off()
    this.offs = []
    this.wake?.cancel()
  }

  /** Runs a pass soon; passes never overlap (a kick during one runs another after it). */
  kick (): void { this.runner.kick() }

  /** One pass: register and withdraw seeds' schedules, fire the due ticks, arm the timer of the next one. */
  async pass (): Promise<void> {
    const { table, clock } = this.c
    const since = this.onDuty()
    if (since === undefined) return
    const now = clock.now()
    const ops: JobOp[] = [...this.seedSchedules(now)]
    const hashes = new Map(this.c.catalog.list().map(s => [s.name, s.hash]))
    for (const s of table.schedules()) {
      if (s.state !== 'scheduled') continue
      const d = decideFirings(s, now, { since })
      if (d.fire.length === 0 && d.skipThrough === undefined) continue
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
      this.arm(0)
    } catch (err) {
      this.arm(RETRY_WAIT_MS) // still leading after a failed commit: try again, not in a tight loop
      throw err
    }
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
    this.wake?.cancel()
    this.wake = undefined
    if (this.stopped) return
    let next: number | undefined
    for (const s of this.c.table.schedules()) {
      if (s.state !== 'scheduled') continue
      const at = nextDecisionAt(s)
      if (at !== undefined && (next === undefined || at < next)) next = at
    }
    if (next === undefined) return
    const wait = Math.min(MAX_WAIT_MS, Math.max(minWaitMs, next - this.c.clock.now()))
    this.wake = this.c.clock.setTimeout(() => this.kick(), wait)
  }
}
