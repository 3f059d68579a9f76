import { pack, unpack } from 'msgpackr'
import { PmzError } from '../../common/errors.js'
import type { StateMachine } from '../../coordinator/types.js'
import { DEDUP_WINDOW_MS, DEFAULT_PRIORITY, DEFAULT_RETRIES, JOB_COMMAND_VERSION, MAX_BATCH_COMMANDS, MAX_LOST_ATTEMPTS } from './constants.js'
import { applied, refused, transition } from './transitions.js'
import { FINAL_STATES, LIVE_STATES, type Job, type JobCommand, type JobOp, type JobOutcome, type JobResult, type JobState, type LaunchCommand, type PruneCommand } from './types.js'
import type { JobView } from './view.js'
import { checkOp } from './validate.js'
import { WaitingQueue } from './waiting-queue.js'
import { ScheduleBook } from './schedule-book.js'
import type { Schedule, ScheduleCommand } from './schedule-types.js'
import { BatchBook } from './batch-book.js'
import type { Batch, BatchCreateCommand } from './batch-types.js'

interface DedupEntry { jobId: number, at: number }
interface Image { v: 1, seq: number, maxJobId: number, maxTerm: number, jobs: Job[], dedup: Array<[string, DedupEntry]>, schedules?: Schedule[], batches?: Batch[] }

/** Options of JobTable.list. */
export interface ListOptions {
  /** Only jobs in these states. @default every state */
  states?: readonly JobState[]
  /** At most this many, newest first. @default no limit */
  limit?: number
  /** Only the firings of these schedules. @default every job */
  scheduleIds?: readonly number[]
}

/**
 * The job table, a deterministic state machine fed by the coordinator's Raft
 * log (issue 14): every transition is a committed command, many commands
 * share one entry (`batch`). Every time comes from the command, stamped by
 * the proposer. Queries return the table's own records, read-only: they are
 * valid until the next apply.
 */
export class JobTable implements StateMachine<JobCommand, JobResult> {
  private jobs = new Map<number, Job>()
  /** Ids of the jobs not in a final state: what placement and liveness look at. */
  private active = new Set<number>()
  /** Of those, the live attempts, the retrying jobs, and the jobs waiting for a peer in placement order (see track). */
  private live = new Set<number>()
  private retrying = new Set<number>()
  private readonly waiting = new WaitingQueue<Job>()
  /** Per batch, how many of its tasks are in `waiting`. */
  private readonly waitingPerBatch = new Map<number, number>()
  private dedup = new Map<string, DedupEntry>()
  private seq = 0
  private maxJobId = 0
  private maxTerm = 0
  /** The schedules (issue 15); their firings are jobs of this table. */
  private readonly book = new ScheduleBook({
    takeId: id => {
      if (id <= this.maxJobId) return false
      this.maxJobId = id
      return true
    },
    fire: (template, at, from) => this.create({ ...template, jobId: this.maxJobId + 1, at, ...from }).jobId,
    isActive: id => this.active.has(id),
    cancelWaiting: (scheduleId, at) => {
      for (const job of this.activeRecords()) {
        if (job.scheduleId !== scheduleId || (job.state !== 'queued' && job.state !== 'retrying')) continue
        transition(job, { type: 'cancel', v: JOB_COMMAND_VERSION, at, jobId: job.jobId, reason: 'schedule cancelled' })
        this.track(job)
      }
    }
  })

  /** The batches (issue 16); their tasks are jobs of this table. */
  private readonly batchBook = new BatchBook({
    takeId: id => {
      if (id <= this.maxJobId) return false
      this.maxJobId = id
      return true
    },
    task: (template, at, batchId) => this.create({ ...template, jobId: this.maxJobId + 1, at, batchId }).jobId,
    cancel: (jobId, at) => { this.applyOp({ type: 'cancel', v: JOB_COMMAND_VERSION, at, jobId, reason: 'batch cancelled' }) },
    retry: (jobId, at) => this.jobs.get(jobId)?.state === 'failed' && this.applyOp({ type: 'retry', v: JOB_COMMAND_VERSION, at, jobId }).ok
  })

  /** Applies one command or a batch; a batch answers with one outcome per command, in order. Throws only for an entry that is not a job command at all. */
  apply (command: JobCommand): JobResult {
    if (command === null || typeof command !== 'object') throw new PmzError('ERR_BAD_REQUEST', 'a job command must be an object')
    if (command.type !== 'batch') return this.applyOp(command)
    if (command.v !== JOB_COMMAND_VERSION) throw new PmzError('ERR_BAD_REQUEST', 'unknown job batch version', { details: { v: command.v } })
    if (!Array.isArray(command.commands) || command.commands.length > MAX_BATCH_COMMANDS) {
      throw new PmzError('ERR_BAD_REQUEST', `a job batch carries an array of at most ${MAX_BATCH_COMMANDS} commands`)
    }
    return command.commands.map(op => this.applyOp(op))
  }

  /** The job, or undefined. */
  get (jobId: number): JobView | undefined { return this.jobs.get(jobId) }

  /** Jobs, newest (highest id) first. */
  list (options: ListOptions = {}): JobView[] {
    const states = options.states === undefined ? undefined : new Set(options.states)
    const schedules = options.scheduleIds === undefined ? undefined : new Set(options.scheduleIds)
    const limit = options.limit ?? Infinity
    const out: Job[] = []
    const all = [...this.jobs.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const j = all[i]
      if ((states === undefined || states.has(j.state)) && (schedules === undefined || (j.scheduleId !== undefined && schedules.has(j.scheduleId)))) out.push(j)
    }
    return out
  }

  /** A schedule, or undefined. */
  schedule (id: number): Readonly<Schedule> | undefined { return this.book.get(id) }
  /** Schedules, newest first. */
  schedules (): ReadonlyArray<Readonly<Schedule>> { return this.book.list() }
  /** The live schedule a seed's `schedule` export registered. */
  scheduleOfSeed (seed: string): Readonly<Schedule> | undefined { return this.book.ofSeed(seed) }

  /** A batch, or undefined. */
  batch (id: number): Readonly<Batch> | undefined { return this.batchBook.get(id) }
  /** Batches, newest first. */
  batches (): ReadonlyArray<Readonly<Batch>> { return this.batchBook.list() }
  /** Batches whose keys are still being listed. */
  listingBatches (): ReadonlyArray<Readonly<Batch>> { return this.batchBook.listing() }
  /** Tasks of a batch waiting for a peer (queued or retrying). */
  waitingTasks (batchId: number): number { return this.waitingPerBatch.get(batchId) ?? 0 }
  /** The tasks of a batch still in the table, in creation order. */
  batchTasks (id: number): JobView[] {
    const out: Job[] = []
    for (const t of this.batchBook.taskIds(id)) {
      const job = this.jobs.get(t)
      if (job !== undefined) out.push(job)
    }
    return out
  }

  /**
   * Jobs that may be placed at `now`: queued, or retrying past their backoff,
   * and not queued behind an active firing of their schedule; most urgent
   * first (priority 9 before 0), FIFO within a priority.
   */
  placeable (now: number): JobView[] { return [...this.placeableInOrder(now)] }

  /** The same, read lazily: a placement pass stops once the free slots are taken, however many jobs wait. */
  * placeableInOrder (now: number): IterableIterator<JobView> {
    for (const job of this.waiting.ordered()) {
      if (job.waitsFor !== undefined && this.active.has(job.waitsFor)) continue
      if (job.state === 'queued' || (job.notBefore ?? 0) <= now) yield job
    }
  }

  /** Jobs not in a final state (order unspecified). */
  activeJobs (): IterableIterator<JobView> { return this.activeRecords() }

  /** Jobs whose attempt is live (assigned, running or cancelling). */
  liveJobs (): IterableIterator<JobView> { return this.records(this.live) }
  /** Jobs waiting for their retry backoff. */
  retryingJobs (): IterableIterator<JobView> { return this.records(this.retrying) }

  private activeRecords (): IterableIterator<Job> { return this.records(this.active) }

  private * records (ids: Set<number>): IterableIterator<Job> {
    for (const id of ids) yield this.jobs.get(id) as Job
  }

  /** Live attempts (assigned, running or cancelling) on `peerId`. */
  liveOn (peerId: string): JobView[] {
    return [...this.liveJobs()].filter(j => j.peerId === peerId)
  }

  /** Live attempts per peer and per seed: the `running` counts of placement. */
  liveCounts (): { perPeer: Map<string, number>, perSeed: Map<string, number> } {
    const perPeer = new Map<string, number>()
    const perSeed = new Map<string, number>()
    for (const j of this.liveJobs()) {
      if (j.peerId === undefined) continue
      perPeer.set(j.peerId, (perPeer.get(j.peerId) ?? 0) + 1)
      perSeed.set(j.seed, (perSeed.get(j.seed) ?? 0) + 1)
    }
    return { perPeer, perSeed }
  }

  /** Jobs per state (for metrics). */
  counts (): Record<JobState, number> {
    const c: Record<JobState, number> = { queued: 0, assigned: 0, running: 0, cancelling: 0, retrying: 0, ready: 0, failed: 0, cancelled: 0 }
    for (const j of this.jobs.values()) c[j.state]++
    return c
  }

  /** The id the next launch gets (a proposer may give it explicitly): ids are never reused, even after a prune. */
  nextJobId (): number { return this.maxJobId + 1 }
  /** The highest coordinator term an assignment carried. */
  term (): number { return this.maxTerm }
  get size (): number { return this.jobs.size }

  snapshot (): Uint8Array {
    const jobs = [...this.jobs.values()].sort((a, b) => a.jobId - b.jobId)
    const dedup = [...this.dedup].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    return pack({ v: 1, seq: this.seq, maxJobId: this.maxJobId, maxTerm: this.maxTerm, jobs, dedup, schedules: this.book.snapshot(), batches: this.batchBook.snapshot() } satisfies Image)
  }

  restore (snapshot: Uint8Array): void {
    const image = unpack(snapshot) as Image
    if (image?.v !== 1 || !Array.isArray(image.jobs)) throw new PmzError('ERR_CORRUPT', 'unknown job table snapshot')
    this.jobs = new Map(image.jobs.map(j => [j.jobId, j]))
    this.active = new Set()
    this.live = new Set()
    this.retrying = new Set()
    this.waiting.clear()
    this.waitingPerBatch.clear()
    for (const job of [...this.jobs.values()].sort((a, b) => a.seq - b.seq)) this.track(job)
    this.dedup = new Map(image.dedup)
    this.seq = image.seq
    this.maxJobId = image.maxJobId
    this.maxTerm = image.maxTerm
    this.book.restore(image.schedules)
    this.batchBook.restore(image.batches, image.jobs)
  }

  private applyOp (op: JobOp): JobOutcome {
    if ((op as { type?: unknown })?.type === 'batch') return refused('ERR_BAD_REQUEST', 'a batch cannot hold a batch')
    const problem = checkOp(op)
    if (problem !== undefined) return refused('ERR_BAD_REQUEST', problem, (op as { jobId?: number }).jobId)
    if (op.type === 'launch') return this.launch(op)
    if (op.type === 'prune') return this.prune(op)
    if (op.type === 'schedule') return this.addSchedule(op)
    if (op.type === 'fire') return this.book.fire(op)
    if (op.type === 'cancel' && this.book.has(op.jobId)) return this.book.cancel(op.jobId, op.at)
    if (op.type === 'batch.create') return this.addBatch(op)
    if (op.type === 'batch.tasks') return this.batchBook.page(op)
    if ((op.type === 'cancel' || op.type === 'retry') && this.batchBook.has(op.jobId)) return this.batchBook[op.type](op.jobId, op.at)
    const job = this.jobs.get(op.jobId)
    if (job === undefined) return refused('ERR_NOT_FOUND', `job ${op.jobId} not found`, op.jobId)
    if (op.type === 'assign' && op.term < this.maxTerm) return refused('ERR_STALE_TERM', `term ${op.term} is older than ${this.maxTerm}`, op.jobId)
    const outcome = transition(job, op)
    if (outcome.ok && outcome.changed) {
      if (op.type === 'assign') this.maxTerm = op.term
      this.track(job)
    }
    return outcome
  }

  private launch (op: LaunchCommand): JobOutcome {
    const seen = op.dedupKey === undefined ? undefined : this.dedup.get(op.dedupKey)
    if (seen !== undefined && op.at - seen.at < DEDUP_WINDOW_MS) {
      return { ok: true, changed: false, jobId: seen.jobId, state: this.jobs.get(seen.jobId)?.state, deduped: true }
    }
    // Without an id the table takes the next one, so concurrent launches never conflict.
    const jobId = op.jobId ?? this.maxJobId + 1
    const existing = this.jobs.get(jobId)
    // The same launch applied twice (a proposer replaying it) is answered like the first; only its nonce tells it
    // from another launch that took the same id (two launches of one seed in the same ms are not rare).
    if (existing !== undefined && op.nonce !== undefined && existing.nonce === op.nonce) return applied(existing, false)
    if (jobId <= this.maxJobId) return refused('ERR_CONFLICT', `job id ${jobId} is taken; next is ${this.maxJobId + 1}`, jobId)
    const job = this.create({ ...op, jobId })
    if (op.dedupKey !== undefined) this.dedup.set(op.dedupKey, { jobId: job.jobId, at: op.at })
    return applied(job)
  }

  private addSchedule (op: ScheduleCommand): JobOutcome {
    const seen = op.dedupKey === undefined ? undefined : this.dedup.get(op.dedupKey)
    if (seen !== undefined && op.at - seen.at < DEDUP_WINDOW_MS) return { ok: true, changed: false, jobId: seen.jobId, deduped: true }
    const scheduleId = op.scheduleId ?? this.maxJobId + 1
    const outcome = this.book.add({ ...op, scheduleId })
    if (outcome.ok && outcome.changed && op.dedupKey !== undefined) this.dedup.set(op.dedupKey, { jobId: scheduleId, at: op.at })
    return outcome
  }

  private addBatch (op: BatchCreateCommand): JobOutcome {
    return this.batchBook.create({ ...op, batchId: op.batchId ?? this.maxJobId + 1 })
  }

  /** Records a new queued job (the caller checked the id). */
  private create (op: Omit<LaunchCommand, 'type' | 'v' | 'jobId'> & { jobId: number, waitsFor?: number, batchId?: number }): Job {
    const job: Job = {
      jobId: op.jobId,
      seed: op.seed,
      seedHash: op.seedHash,
      args: op.args ?? {},
      priority: op.priority ?? DEFAULT_PRIORITY,
      limits: { retries: op.retries ?? DEFAULT_RETRIES, maxLost: op.maxLost ?? MAX_LOST_ATTEMPTS },
      state: 'queued',
      seq: ++this.seq,
      createdAt: op.at,
      updatedAt: op.at,
      attempt: 0,
      log: '',
      logTruncated: false,
      failures: 0,
      losses: 0,
      attempts: []
    }
    if (op.timeoutMs !== undefined) job.limits.timeoutMs = op.timeoutMs
    for (const k of ['dedupKey', 'dataKey', 'scheduleId', 'firedAt', 'waitsFor', 'nonce', 'batchId'] as const) {
      if (op[k] !== undefined) (job as unknown as Record<string, unknown>)[k] = op[k]
    }
    this.jobs.set(job.jobId, job)
    this.track(job)
    this.maxJobId = job.jobId
    return job
  }

  /** Files the job under the indexes of its state (after every change of state). */
  private track (job: Job): void {
    const id = job.jobId
    if (FINAL_STATES.has(job.state)) this.active.delete(id)
    else this.active.add(id)
    if (LIVE_STATES.has(job.state)) this.live.add(id)
    else this.live.delete(id)
    if (job.state === 'retrying') this.retrying.add(id)
    else this.retrying.delete(id)
    const was = this.waiting.has(job)
    const is = job.state === 'queued' || job.state === 'retrying'
    if (is) this.waiting.add(job)
    else this.waiting.delete(job)
    if (job.batchId !== undefined && was !== is) {
      const n = (this.waitingPerBatch.get(job.batchId) ?? 0) + (is ? 1 : -1)
      if (n > 0) this.waitingPerBatch.set(job.batchId, n)
      else this.waitingPerBatch.delete(job.batchId)
    }
  }

  private prune (op: PruneCommand): JobOutcome {
    let pruned = 0
    for (const [id, job] of this.jobs) {
      if (FINAL_STATES.has(job.state) && (job.endedAt ?? job.updatedAt) < op.before) {
        this.jobs.delete(id)
        pruned++
      }
    }
    pruned += this.book.prune(op.before)
    pruned += this.batchBook.prune(op.before, id => this.jobs.has(id))
    for (const [key, e] of this.dedup) {
      if (op.at - e.at >= DEDUP_WINDOW_MS || (!this.jobs.has(e.jobId) && this.book.get(e.jobId) === undefined)) this.dedup.delete(key)
    }
    return { ok: true, changed: pruned > 0, pruned }
  }
}
