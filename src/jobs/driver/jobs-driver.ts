import { CoalescingRunner } from '../../common/coalescing-runner.js'
import type { Startable } from '../../common/startable.js'
import { DEFAULT_PER_WORKER_QUEUE, HEARTBEAT_TIMEOUT_MS, JOB_COMMAND_VERSION, LIVE_STATES, batch, findLost, lossDeadline, nextWakeAt, placeWithBatches, type JobOp, type JobTable, type WorkerLiveness, type WorkerView } from '../table/index.js'
import { JOBS_MESSAGE_VERSION, type AssignMessage, type JobsDriverComponents, type JobsDriverInit } from './types.js'

const ASSIGN_TIMEOUT_MS = 5000
/** A worker an assignment could not be sent to gets no other for this long (membership may not call it dead yet), ms. */
const UNREACHABLE_MS = 2000
/** Commands after which placement may change (the others only refresh a live attempt). */
const KICKS = new Set(['launch', 'finished', 'cancel', 'requeue', 'retry', 'batch', 'batch.create', 'batch.tasks'])

/**
 * The coordinator's side of jobs, active on the leader only: whenever
 * something changes (a launch, a finished attempt, the catalog, membership,
 * leadership) and at the next retry backoff or heartbeat deadline — never on
 * a polling tick — it re-queues the attempts of dead or silent workers,
 * places the waiting jobs (`place()`), commits the assignments in one batch
 * stamped with its term, and sends each to its worker (`jobs.assign`).
 */
export class JobsDriver implements Startable {
  private readonly c: JobsDriverComponents
  private readonly timeoutMs: number
  private readonly assignTimeoutMs: number
  private readonly runner: CoalescingRunner
  private leaderSince = 0
  /** Peers an assignment could not be sent to, and until when placement leaves them out (ms since the epoch). */
  private readonly unreachable = new Map<string, number>()
  /** When a starving batch's tasks may go off their replicas, and since when each batch starves (batch-rules). */
  private localityWake: number | undefined
  private starved = new Map<number, number>()

  constructor (components: JobsDriverComponents, init: JobsDriverInit = {}) {
    this.c = components
    this.timeoutMs = init.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS
    this.assignTimeoutMs = init.assignTimeoutMs ?? ASSIGN_TIMEOUT_MS
    this.runner = new CoalescingRunner(async () => await this.pass(), err => this.c.log.warn({ err }, 'job placement pass failed'), components.clock)
  }

  async start (): Promise<void> {
    const kick = (): void => this.kick()
    this.runner.start(() => [
      this.c.coordinator.onApplied(command => {
        if (command.type === 'cancel') this.cancelLive(command.jobId)
        if (command.type === 'cancel' && this.c.table.batch(command.jobId) !== undefined) for (const t of this.c.table.batchTasks(command.jobId)) this.cancelLive(t.jobId)
        if (KICKS.has(command.type)) kick()
      }),
      this.c.coordinator.onLeaderChange(() => {
        this.leaderSince = this.c.clock.now()
        kick()
      }),
      this.c.catalog.on('catalog:change', kick),
      this.c.directory.onChange(kick)
    ])
    kick()
  }

  async stop (): Promise<void> { this.runner.stop() }

  /** Runs a pass soon; passes never overlap (a kick during one runs another after it). */
  kick (): void { this.runner.kick() }

  /** One pass: re-queue lost attempts, place waiting jobs, send the assignments. */
  async pass (): Promise<void> {
    const { coordinator, table, clock, directory } = this.c
    if (!coordinator.isLeader()) {
      this.starved.clear()
      return
    }
    const now = clock.now()
    const term = coordinator.term()
    const at = { v: JOB_COMMAND_VERSION, at: now } as const
    const ops: JobOp[] = findLost(table.liveJobs(), { ...this.liveness(term), now, isAlive: id => directory.isAlive(id) })
      .map(l => ({ type: 'requeue', ...at, jobId: l.jobId, attempt: l.attempt, reason: l.reason, ...(l.reason === 'not started' ? { unstarted: true } : {}) }))
    const { perPeer, perSeed } = table.liveCounts()
    const seeds = this.seedsByPeer()
    for (const [peerId, until] of this.unreachable) if (until <= now) this.unreachable.delete(peerId)
    const workers: WorkerView[] = directory.workers().filter(w => !this.unreachable.has(w.peerId)).map(w => ({
      peerId: w.peerId, seeds: seeds.get(w.peerId) ?? new Map(), slots: w.slots, running: perPeer.get(w.peerId) ?? 0, load: w.load
    }))
    const concurrency = new Map(this.c.catalog.list().filter(s => s.limits.concurrency !== undefined).map(s => [s.name, s.limits.concurrency as number]))
    const data = this.c.data
    const holders = data === undefined ? undefined : (key: string) => data.replicasOf(key)
    // The waiting jobs, in placement order (kept ordered by the table: no sort here); batch gates count their pending tasks.
    const placed = placeWithBatches({
      jobs: table.placeableInOrder(now), workers, runningPerSeed: perSeed, concurrency, holders, now,
      limitsOf: id => table.batch(id)?.limits, active: table.liveJobs(), pendingOf: id => table.waitingTasks(id), starved: this.starved, ahead: this.ahead()
    })
    this.localityWake = placed.wakeAt
    this.starved = placed.starved
    for (const a of placed.assignments) {
      ops.push({ type: 'assign', ...at, jobId: a.jobId, peerId: a.peerId, attempt: a.attempt, term })
    }
    if (ops.length > 0) {
      const { result } = await coordinator.propose(batch(ops))
      const outcomes = Array.isArray(result) ? result : [result]
      ops.forEach((op, i) => {
        const o = outcomes[i]
        if (op.type === 'assign' && o?.ok === true && o.changed) void this.send(op.jobId, op.attempt, op.peerId, term)
      })
    }
    this.arm(term)
  }

  /** The most tasks a waiting batch lets a worker take ahead of its slots (its perWorkerQueue). */
  private ahead (): number {
    let most = 0
    for (const b of this.c.table.batches()) {
      if (this.c.table.waitingTasks(b.batchId) > 0) most = Math.max(most, b.limits.perWorkerQueue ?? DEFAULT_PER_WORKER_QUEUE)
    }
    return most
  }

  /** The liveness rules of this leader (see findLost). */
  private liveness (term: number): Omit<WorkerLiveness, 'now' | 'isAlive'> {
    return { heartbeatTimeoutMs: this.timeoutMs, since: this.leaderSince, term }
  }

  /** peer → seed name → hash, from the cluster catalog (copies that failed to load left out). */
  private seedsByPeer (): Map<string, Map<string, string>> {
    const out = new Map<string, Map<string, string>>()
    for (const s of this.c.catalog.list()) {
      for (const [hash, peers] of Object.entries(s.hashes)) {
        for (const p of peers) {
          if (s.errors[p] !== undefined) continue
          const m = out.get(p) ?? new Map<string, string>()
          m.set(s.name, hash)
          out.set(p, m)
        }
      }
    }
    return out
  }

  private async send (jobId: number, attempt: number, peerId: string, term: number): Promise<void> {
    const job = this.c.table.get(jobId)
    const address = this.c.directory.workers().find(w => w.peerId === peerId)?.address
    if (job === undefined) return
    const msg: AssignMessage = {
      type: 'jobs.assign', v: JOBS_MESSAGE_VERSION, term, jobId, attempt, seed: job.seed, seedHash: job.seedHash, args: job.args, timeoutMs: job.limits.timeoutMs,
      failures: job.failures, retries: job.limits.retries, ...(job.dataKey !== undefined ? { dataKey: job.dataKey } : {}),
      ...(job.scheduleId !== undefined && job.firedAt !== undefined ? { scheduleId: job.scheduleId, firedAt: job.firedAt } : {}),
      ...storeOutputAs(job, this.c.table)
    }
    try {
      if (address === undefined) throw new Error('worker not in membership')
      await this.c.mesh.request(address, msg, { timeoutMs: this.assignTimeoutMs })
    } catch (err) {
      // A timeout does not prove the worker lacks it: the re-queue holds only if the attempt has not started (unstarted).
      this.c.log.warn({ err, jobId, attempt, peerId }, 'assignment not delivered; re-queued')
      this.unreachable.set(peerId, this.c.clock.now() + UNREACHABLE_MS)
      const reason = `assignment not delivered: ${(err as Error).message}`.slice(0, 200)
      await this.c.coordinator.propose({ type: 'requeue', v: JOB_COMMAND_VERSION, at: this.c.clock.now(), jobId, attempt, reason, unstarted: true })
        .catch(e => this.c.log.warn({ err: e, jobId }, 're-queue failed'))
    }
  }

  /** A cancel committed on a live attempt: tell its worker to abort it. */
  private cancelLive (jobId: number): void {
    const job = this.c.table.get(jobId)
    if (!this.c.coordinator.isLeader() || job === undefined || !LIVE_STATES.has(job.state) || job.peerId === undefined) return
    const address = this.c.directory.workers().find(w => w.peerId === job.peerId)?.address
    if (address === undefined) return
    const msg = { type: 'jobs.cancel', v: JOBS_MESSAGE_VERSION, term: this.c.coordinator.term(), jobId, attempt: job.attempt } as const
    this.c.mesh.request(address, msg, { timeoutMs: this.assignTimeoutMs }).catch(err => this.c.log.warn({ err, jobId }, 'cancel not delivered'))
  }

  /** The timer of the next backoff end, loss deadline or return of an unreachable peer. */
  private arm (term: number): void {
    let next = nextWakeAt(this.c.table.retryingJobs())
    const rules = this.liveness(term)
    const deadlines = [...this.unreachable.values(), this.localityWake ?? Infinity, ...[...this.c.table.liveJobs()].map(j => (lossDeadline(j, rules)?.at ?? Infinity) + 1)]
    for (const d of deadlines) if (next === undefined || d < next) next = d
    this.runner.wakeAt(next === Infinity ? undefined : next)
  }
}

/** Where a batch task's output is stored too: the batch's outputPrefix + its key (without the key's leading `/`). */
function storeOutputAs (job: { batchId?: number, dataKey?: string }, table: Pick<JobTable, 'batch'>): { storeOutputAs?: string } {
  const prefix = job.batchId === undefined ? undefined : table.batch(job.batchId)?.outputPrefix
  if (prefix === undefined || job.dataKey === undefined) return {}
  return { storeOutputAs: `${prefix.replace(/\/+$/, '')}/${job.dataKey.replace(/^\/+/, '')}` }
}
