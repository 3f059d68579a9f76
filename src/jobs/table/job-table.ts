import { pack, unpack } from 'msgpackr'
import { PmzError } from '../../common/errors.js'
import type { StateMachine } from '../../coordinator/types.js'
import { DEDUP_WINDOW_MS, DEFAULT_PRIORITY, DEFAULT_RETRIES, JOB_COMMAND_VERSION, MAX_BATCH_COMMANDS, MAX_LOST_ATTEMPTS } from './constants.js'
import { applied, refused, transition } from './transitions.js'
import { FINAL_STATES, LIVE_STATES, type Job, type JobCommand, type JobOp, type JobOutcome, type JobResult, type JobState, type LaunchCommand, type PruneCommand } from './types.js'
import type { JobView } from './view.js'
import { checkOp } from './validate.js'

interface DedupEntry { jobId: number, at: number }
interface Image { v: 1, seq: number, maxJobId: number, maxTerm: number, jobs: Job[], dedup: Array<[string, DedupEntry]> }

/** Options of JobTable.list. */
export interface ListOptions {
  /** Only jobs in these states. @default every state */
  states?: readonly JobState[]
  /** At most this many, newest first. @default no limit */
  limit?: number
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
  private dedup = new Map<string, DedupEntry>()
  private seq = 0
  private maxJobId = 0
  private maxTerm = 0

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
    const limit = options.limit ?? Infinity
    const out: Job[] = []
    const all = [...this.jobs.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      if (states === undefined || states.has(all[i].state)) out.push(all[i])
    }
    return out
  }

  /** Jobs that may be placed at `now`: queued, or retrying past their backoff; most urgent first (priority 9 before 0), FIFO within a priority. */
  placeable (now: number): JobView[] {
    const out: Job[] = []
    for (const job of this.activeRecords()) {
      if (job.state === 'queued' || (job.state === 'retrying' && (job.notBefore ?? 0) <= now)) out.push(job)
    }
    return out.sort((a, b) => b.priority - a.priority || a.seq - b.seq)
  }

  /** Jobs not in a final state (order unspecified). */
  activeJobs (): IterableIterator<JobView> { return this.activeRecords() }

  private * activeRecords (): IterableIterator<Job> {
    for (const id of this.active) yield this.jobs.get(id) as Job
  }

  /** Live attempts (assigned, running or cancelling) on `peerId`. */
  liveOn (peerId: string): JobView[] {
    return [...this.activeJobs()].filter(j => LIVE_STATES.has(j.state) && j.peerId === peerId)
  }

  /** Live attempts per peer and per seed: the `running` counts of placement. */
  liveCounts (): { perPeer: Map<string, number>, perSeed: Map<string, number> } {
    const perPeer = new Map<string, number>()
    const perSeed = new Map<string, number>()
    for (const j of this.activeJobs()) {
      if (!LIVE_STATES.has(j.state) || j.peerId === undefined) continue
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
    return pack({ v: 1, seq: this.seq, maxJobId: this.maxJobId, maxTerm: this.maxTerm, jobs, dedup } satisfies Image)
  }

  restore (snapshot: Uint8Array): void {
    const image = unpack(snapshot) as Image
    if (image?.v !== 1 || !Array.isArray(image.jobs)) throw new PmzError('ERR_CORRUPT', 'unknown job table snapshot')
    this.jobs = new Map(image.jobs.map(j => [j.jobId, j]))
    this.active = new Set(image.jobs.filter(j => !FINAL_STATES.has(j.state)).map(j => j.jobId))
    this.dedup = new Map(image.dedup)
    this.seq = image.seq
    this.maxJobId = image.maxJobId
    this.maxTerm = image.maxTerm
  }

  private applyOp (op: JobOp): JobOutcome {
    if ((op as { type?: unknown })?.type === 'batch') return refused('ERR_BAD_REQUEST', 'a batch cannot hold a batch')
    const problem = checkOp(op)
    if (problem !== undefined) return refused('ERR_BAD_REQUEST', problem, (op as { jobId?: number }).jobId)
    if (op.type === 'launch') return this.launch(op)
    if (op.type === 'prune') return this.prune(op)
    const job = this.jobs.get(op.jobId)
    if (job === undefined) return refused('ERR_NOT_FOUND', `job ${op.jobId} not found`, op.jobId)
    if (op.type === 'assign' && op.term < this.maxTerm) return refused('ERR_STALE_TERM', `term ${op.term} is older than ${this.maxTerm}`, op.jobId)
    const outcome = transition(job, op)
    if (outcome.ok && outcome.changed) {
      if (op.type === 'assign') this.maxTerm = op.term
      if (FINAL_STATES.has(job.state)) this.active.delete(job.jobId)
      else this.active.add(job.jobId)
    }
    return outcome
  }

  private launch (op: LaunchCommand): JobOutcome {
    const seen = op.dedupKey === undefined ? undefined : this.dedup.get(op.dedupKey)
    if (seen !== undefined && op.at - seen.at < DEDUP_WINDOW_MS) {
      return { ok: true, changed: false, jobId: seen.jobId, state: this.jobs.get(seen.jobId)?.state, deduped: true }
    }
    const jobId = op.jobId ?? this.maxJobId + 1
    const existing = this.jobs.get(jobId)
    // The same launch proposed twice (a proposer retrying after an unknown outcome) is answered like the first.
    if (existing !== undefined && existing.seed === op.seed && existing.createdAt === op.at) return applied(existing, false)
    if (jobId <= this.maxJobId) return refused('ERR_CONFLICT', `job id ${jobId} is taken; next is ${this.maxJobId + 1}`, jobId)
    const job: Job = {
      jobId,
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
    for (const k of ['dedupKey', 'dataKey', 'scheduleId', 'firedAt'] as const) {
      if (op[k] !== undefined) (job as unknown as Record<string, unknown>)[k] = op[k]
    }
    this.jobs.set(job.jobId, job)
    this.active.add(job.jobId)
    this.maxJobId = job.jobId
    if (op.dedupKey !== undefined) this.dedup.set(op.dedupKey, { jobId: job.jobId, at: op.at })
    return applied(job)
  }

  private prune (op: PruneCommand): JobOutcome {
    let pruned = 0
    for (const [id, job] of this.jobs) {
      if (FINAL_STATES.has(job.state) && (job.endedAt ?? job.updatedAt) < op.before) {
        this.jobs.delete(id)
        pruned++
      }
    }
    for (const [key, e] of this.dedup) {
      if (op.at - e.at >= DEDUP_WINDOW_MS || !this.jobs.has(e.jobId)) this.dedup.delete(key)
    }
    return { ok: true, changed: pruned > 0, pruned }
  }
}
