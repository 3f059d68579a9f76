import { PmzError } from '../../common/errors.js'
import type { Startable } from '../../common/startable.js'
import { Fence } from '../../coordinator/index.js'
import type { AttemptOutcome } from '../exec/index.js'
import { JOB_COMMAND_VERSION, MAX_LOG_CHARS, MAX_LOST_ATTEMPTS, retryAt, type JobOp } from '../table/index.js'
import { CommandBatcher } from './command-batcher.js'
import { JOBS_MESSAGE_VERSION, type AssignMessage, type CancelMessage, type JobsWorkerComponents } from './types.js'

/** Tries of a started/finished report while the coordinator is unreachable. */
const REPORT_TRIES = 8
const REPORT_BACKOFF_MS = 250
/** Progress reports of one attempt are committed at most this often (the last, fraction 1, always), ms. */
const PROGRESS_EVERY_MS = 500
/** A heartbeat is committed only this long after the attempt's previous report, ms (the heartbeat timeout is many times longer). */
const HEARTBEAT_GAP_MS = 1000

/**
 * The worker's side of jobs: takes `jobs.assign` from the coordinator
 * (refusing a stale term), runs the attempt with the JobRunner (the seed of
 * the local catalog, at the assigned hash), and reports started, progress,
 * heartbeats and the outcome as job commands through the coordinator.
 * `jobs.cancel` aborts a running attempt.
 */
export class JobsWorker implements Startable {
  private readonly c: JobsWorkerComponents
  private readonly fence = new Fence()
  private readonly running = new Map<string, AbortController>()
  private offs: Array<() => void> = []
  /** Reports of every attempt made in one event-loop turn share one log entry. */
  private readonly reports: CommandBatcher

  constructor (components: JobsWorkerComponents) {
    this.c = components
    this.reports = new CommandBatcher(async command => await this.c.coordinator.propose(command))
  }

  async start (): Promise<void> {
    this.offs = [
      this.c.mesh.handle('jobs.assign', req => this.assign(req.msg as AssignMessage)),
      this.c.mesh.handle('jobs.cancel', req => this.cancel(req.msg as CancelMessage))
    ]
  }

  async stop (): Promise<void> {
    for (const off of this.offs) off()
    this.offs = []
    for (const c of this.running.values()) c.abort()
  }

  /** Attempts running here now. */
  get size (): number { return this.running.size }

  assign (m: AssignMessage): { type: 'jobs.ack', ok: true } {
    if (m?.v !== JOBS_MESSAGE_VERSION || !Number.isSafeInteger(m.jobId) || !Number.isSafeInteger(m.attempt)) throw new PmzError('ERR_BAD_REQUEST', 'bad jobs.assign')
    this.fence.checkTerm(m.term)
    const key = `${m.jobId}:${m.attempt}`
    if (this.running.has(key)) return { type: 'jobs.ack', ok: true }
    const controller = new AbortController()
    this.running.set(key, controller)
    void this.run(m, controller.signal).catch(err => this.c.log.error({ err, jobId: m.jobId }, 'job attempt failed to report'))
      .finally(() => this.running.delete(key))
    return { type: 'jobs.ack', ok: true }
  }

  cancel (m: CancelMessage): { type: 'jobs.ack', ok: true, cancelled: boolean } {
    if (m?.v !== JOBS_MESSAGE_VERSION) throw new PmzError('ERR_BAD_REQUEST', 'bad jobs.cancel')
    this.fence.checkTerm(m.term)
    const c = this.running.get(`${m.jobId}:${m.attempt}`)
    c?.abort()
    return { type: 'jobs.ack', ok: true, cancelled: c !== undefined }
  }

  private async run (m: AssignMessage, signal: AbortSignal): Promise<void> {
    const { clock, local, runner } = this.c
    const ids = { jobId: m.jobId, attempt: m.attempt }
    const seed = local.get(m.seed)
    if (seed === undefined || seed.hash !== m.seedHash || seed.error !== undefined) {
      const error = seed === undefined ? `seed ${m.seed} is not on ${this.c.peerId}` : seed.error ?? `seed ${m.seed} changed on ${this.c.peerId}`
      await this.report({ type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: false, error }, true)
      return
    }
    // Not awaited: the attempt starts at once, its start is committed meanwhile (a commit is an fsync away).
    const startedAt = clock.now()
    void this.report({ type: 'started', v: JOB_COMMAND_VERSION, at: startedAt, ...ids }, true)
    // The last report that told the coordinator the attempt is alive (a start, a progress, a heartbeat).
    let lastHeard = startedAt
    const quiet = (op: JobOp): void => {
      lastHeard = op.at
      void this.report(op, false)
    }
    let lastProgress = -Infinity
    const outcome: AttemptOutcome = await runner.run({
      jobId: m.jobId, attempt: m.attempt, seed, args: m.args, peerId: this.c.peerId, ...(m.timeoutMs !== undefined ? { timeoutMs: m.timeoutMs } : {})
    }, {
      onProgress: (fraction, text) => {
        const now = clock.now()
        if (now - lastProgress < PROGRESS_EVERY_MS && fraction < 1) return
        lastProgress = now
        quiet({ type: 'progress', v: JOB_COMMAND_VERSION, at: now, ...ids, fraction, ...(text !== undefined ? { text } : {}) })
      },
      onLog: () => {},
      onHeartbeat: () => {
        // A heartbeat right after another report says nothing new (the runner beats once as the attempt starts).
        const now = clock.now()
        if (now - lastHeard >= HEARTBEAT_GAP_MS) quiet({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: now, ...ids })
      }
    }, { signal })
    let log = outcome.log.lines.join('\n')
    const cut = log.length > MAX_LOG_CHARS
    if (cut) log = log.slice(-MAX_LOG_CHARS)
    await this.report({
      type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: outcome.ok, output: outcome.output ?? null, log, logTruncated: outcome.log.truncated || cut,
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      ...(outcome.ok ? {} : this.backoff(m))
    }, true)
  }

  /** When a failed attempt may run again: `now` + a jittered exponential backoff, if the job has retries left. */
  private backoff (m: AssignMessage): { retryAt?: number } {
    if (m.failures === undefined || m.retries === undefined) return {}
    const at = retryAt({ failures: m.failures, limits: { retries: m.retries, maxLost: MAX_LOST_ATTEMPTS } }, this.c.clock.now(), this.c.random ?? Math.random)
    return at === undefined ? {} : { retryAt: at }
  }

  /** Proposes a report; `persist` retries it with a backoff while there is no coordinator. */
  private async report (op: JobOp, persist: boolean): Promise<void> {
    for (let i = 1; ; i++) {
      try {
        await this.reports.propose(op)
        return
      } catch (err) {
        if (!persist || i >= REPORT_TRIES) {
          this.c.log.warn({ err, type: op.type }, 'job report not committed')
          return
        }
        await new Promise<void>(resolve => this.c.clock.setTimeout(resolve, REPORT_BACKOFF_MS * i))
      }
    }
  }
}
