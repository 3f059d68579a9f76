import { PmzError, isPmzError } from '../../common/errors.js'
import type { Timer } from '../../common/clock.js'
import type { Startable } from '../../common/startable.js'
import { Fence } from '../../coordinator/index.js'
import type { Seed } from '../../seeds/index.js'
import { Slots, type AttemptOutcome, type DataFile } from '../exec/index.js'
import { JOB_COMMAND_VERSION, MAX_LOG_CHARS, MAX_LOST_ATTEMPTS, retryAt, type JobOp, type JobOutcome, type JobResult } from '../table/index.js'
import { LogRelay } from './log-relay.js'
import { CommandBatcher } from './command-batcher.js'
import { JOBS_MESSAGE_VERSION, type AssignMessage, type CancelMessage, type JobsWorkerComponents } from './types.js'

/** Tries of a started/finished report while the coordinator is unreachable. */
const REPORT_TRIES = 8
const REPORT_BACKOFF_MS = 250
/** Progress reports of one attempt are committed at most this often (the last, fraction 1, always), ms. */
const PROGRESS_EVERY_MS = 500
/** Heartbeats while a data file is fetched (the runner sends them once the attempt runs), ms. */
const DATA_HEARTBEAT_MS = 5000
/** Attempts that ran here and are remembered, so that an assignment sent again does not run one twice. */
const DONE_KEPT = 4096
/** A heartbeat is committed only this long after the attempt's previous report, ms (the heartbeat timeout is many times longer). */
const HEARTBEAT_GAP_MS = 1000

/**
 * The worker's side of jobs: takes `jobs.assign` from the coordinator
 * (refusing a stale term), runs the attempt with the JobRunner (the seed of
 * the local catalog, at the assigned hash), and reports started, progress,
 * heartbeats and the outcome as job commands through the coordinator.
 * `jobs.cancel` aborts a running attempt.
 *
 * An attempt runs only once its `started` report committed on the attempt
 * the table holds live (the fence against running a job twice at once: a
 * re-queue of an attempt that has not started, committed first, makes the
 * report a no-op, and the attempt is dropped here).
 */
export class JobsWorker implements Startable {
  private readonly c: JobsWorkerComponents
  private readonly fence = new Fence()
  private readonly running = new Map<string, AbortController>()
  private readonly done = new Set<string>()
  private offs: Array<() => void> = []
  /** Reports of every attempt made in one event-loop turn share one log entry. */
  private readonly reports: CommandBatcher

  /** This worker's slots, when it bounds its own attempts (then attempts assigned beyond them wait here for one). */
  private readonly slots: Slots | undefined

  constructor (components: JobsWorkerComponents) {
    this.c = components
    this.slots = components.slots === undefined ? undefined : new Slots(components.slots)
    this.reports = new CommandBatcher(async command => await this.c.coordinator.propose(command), components.defer)
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
    if (m?.v !== JOBS_MESSAGE_VERSION || !Number.isSafeInteger(m.jobId) || !Number.isSafeInteger(m.attempt) ||
      (m.dataKey !== undefined && typeof m.dataKey !== 'string') || (m.storeOutputAs !== undefined && typeof m.storeOutputAs !== 'string') ||
      (m.scheduleId !== undefined && (!Number.isSafeInteger(m.scheduleId) || !Number.isSafeInteger(m.firedAt)))) throw new PmzError('ERR_BAD_REQUEST', 'bad jobs.assign')
    this.fence.checkTerm(m.term)
    const key = `${m.jobId}:${m.attempt}`
    if (this.running.has(key) || this.done.has(key)) return { type: 'jobs.ack', ok: true }
    const controller = new AbortController()
    this.running.set(key, controller)
    void this.run(m, controller.signal).catch(err => this.c.log.error({ err, jobId: m.jobId }, 'job attempt failed to report'))
      .finally(() => {
        this.running.delete(key)
        this.done.add(key)
        if (this.done.size > DONE_KEPT) this.done.delete(this.done.values().next().value as string)
      })
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
    const { clock, local } = this.c
    const ids = { jobId: m.jobId, attempt: m.attempt }
    const seed = local.get(m.seed)
    if (seed === undefined || seed.hash !== m.seedHash || seed.error !== undefined) {
      const error = seed === undefined ? `seed ${m.seed} is not on ${this.c.peerId}` : seed.error ?? `seed ${m.seed} changed on ${this.c.peerId}`
      await this.report({ type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: false, error }, true)
      return
    }
    // An attempt handed ahead of a free slot (a batch's perWorkerQueue) waits here for one, heard from meanwhile.
    if (this.slots !== undefined && !await this.queued(this.slots, ids, signal)) {
      await this.report({ type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: false, error: 'cancelled' }, true)
      return
    }
    // The slot frees as soon as the run ends, so the next queued attempt's `started` shares a log entry with this one's outcome.
    let held = this.slots !== undefined
    const release = (): void => { if (held) { held = false; this.slots?.release() } }
    try {
      await this.started(m, seed, ids, signal, release)
    } finally {
      release()
    }
  }

  /** Waits for a slot of this worker; heartbeats the attempt while it waits. False when its signal fired first. */
  private async queued (slots: Slots, ids: { jobId: number, attempt: number }, signal: AbortSignal): Promise<boolean> {
    const { clock } = this.c
    const beat = clock.setInterval(() => { void this.report({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids }, false) }, DATA_HEARTBEAT_MS)
    try {
      return await slots.acquire(signal)
    } finally {
      beat.cancel()
    }
  }

  /** Reports the attempt started and, once that committed on the attempt the table holds live, runs it and reports how it ended. */
  private async started (m: AssignMessage, seed: Seed, ids: { jobId: number, attempt: number }, signal: AbortSignal, ran: () => void): Promise<void> {
    const { clock, runner } = this.c
    const started = firstOutcome(await this.report({ type: 'started', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids }, true))
    if (started?.ok !== true || started.attempt !== m.attempt || (started.state !== 'running' && started.state !== 'cancelling')) {
      // Not committed, or the attempt is no longer the live one (re-queued before it started): someone else may run it.
      this.c.log.info({ ...ids, outcome: started }, 'attempt not started: the table does not hold it live here')
      return
    }
    if (started.state === 'cancelling') {
      await this.report({ type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: false, error: 'cancelled' }, true)
      return
    }
    let data: DataFile | undefined
    if (m.dataKey !== undefined) {
      try {
        data = await this.openData(m.dataKey, ids)
      } catch (err) {
        // A key with no value fails for good; a fetch that failed may work on the next attempt.
        const error = `pulzar_data ${m.dataKey}: ${(err as Error).message}`.slice(0, 500)
        const retryable = !isPmzError(err, 'ERR_NOT_FOUND')
        await this.report({ type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ok: false, error, retryable, ...(retryable ? this.backoff(m) : {}) }, true)
        return
      }
    }
    // The last report that told the coordinator the attempt is alive (a start, a progress, a heartbeat).
    let lastHeard = clock.now()
    const quiet = (op: JobOp): void => {
      lastHeard = op.at
      void this.report(op, false)
    }
    let lastProgress = -Infinity
    // Log lines ride on the next progress or heartbeat report; a line with neither due soon sends a heartbeat within PROGRESS_EVERY_MS.
    const relay = new LogRelay()
    let flush: Timer | undefined
    let lastFlush = -Infinity
    const lines = (): { lines?: string[] } => {
      flush?.cancel()
      flush = undefined
      const taken = relay.take()
      return taken === undefined ? {} : { lines: taken }
    }
    let outcome: AttemptOutcome
    try {
      outcome = await runner.run({
        jobId: m.jobId, attempt: m.attempt, seed, args: m.args, peerId: this.c.peerId,
        ...(m.timeoutMs !== undefined ? { timeoutMs: m.timeoutMs } : {}), ...(data !== undefined ? { dataFile: data.path } : {}),
        ...(m.scheduleId !== undefined ? { scheduled: true, schedule: { scheduleId: m.scheduleId, firedAt: m.firedAt as number } } : {})
      }, {
        onProgress: (fraction, text) => {
          const now = clock.now()
          if (now - lastProgress < PROGRESS_EVERY_MS && fraction < 1) return
          lastProgress = now
          quiet({ type: 'progress', v: JOB_COMMAND_VERSION, at: now, ...ids, fraction, ...(text !== undefined ? { text } : {}), ...lines() })
        },
        onLog: line => {
          relay.push(line)
          flush ??= clock.setTimeout(() => {
            lastFlush = clock.now()
            quiet({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: lastFlush, ...ids, ...lines() })
          }, Math.max(0, lastFlush + PROGRESS_EVERY_MS - clock.now()))
        },
        onHeartbeat: () => {
          // A heartbeat right after another report says nothing new (the runner beats once as the attempt starts), unless it carries lines.
          const now = clock.now()
          if (now - lastHeard >= HEARTBEAT_GAP_MS || relay.size > 0) quiet({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: now, ...ids, ...lines() })
        }
      }, { signal })
    } finally {
      ran()
      await data?.release()
    }
    // The last lines go out before the outcome, so a follower hears them before the job ends.
    const rest = lines()
    if (rest.lines !== undefined) await this.report({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ...rest }, false)
    let log = outcome.log.lines.join('\n')
    const cut = log.length > MAX_LOG_CHARS
    if (cut) log = log.slice(-MAX_LOG_CHARS)
    let result: { ok: boolean, output: unknown, outputKey?: string, error?: string } = { ok: outcome.ok, output: outcome.output ?? null, ...(outcome.error !== undefined ? { error: outcome.error } : {}) }
    try {
      if (result.ok && m.storeOutputAs !== undefined) await this.c.data?.storeOutput?.(m.storeOutputAs, result.output)
      const kept = await this.c.data?.keepOutput(result.output, ids)
      if (kept !== undefined) result = { ...result, ...kept }
    } catch (err) {
      result = { ok: false, output: null, error: `the output could not be stored: ${(err as Error).message}`.slice(0, 500) }
    }
    await this.report({
      type: 'finished', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids, ...result, log, logTruncated: outcome.log.truncated || cut,
      ...(result.ok ? {} : this.backoff(m))
    }, true)
  }

  /** The data key's value as a local file, with heartbeats while it is fetched. */
  private async openData (key: string, ids: { jobId: number, attempt: number }): Promise<DataFile> {
    const { clock, data } = this.c
    if (data === undefined) throw new PmzError('ERR_UNAVAILABLE', `${this.c.peerId} has no store to read it from`)
    const beat = clock.setInterval(() => { void this.report({ type: 'heartbeat', v: JOB_COMMAND_VERSION, at: clock.now(), ...ids }, false) }, DATA_HEARTBEAT_MS)
    try {
      return await data.open(key, ids)
    } finally {
      beat.cancel()
    }
  }

  /** When a failed attempt may run again: `now` + a jittered exponential backoff, if the job has retries left. */
  private backoff (m: AssignMessage): { retryAt?: number } {
    if (m.failures === undefined || m.retries === undefined) return {}
    const at = retryAt({ failures: m.failures, limits: { retries: m.retries, maxLost: MAX_LOST_ATTEMPTS } }, this.c.clock.now(), this.c.random ?? Math.random)
    return at === undefined ? {} : { retryAt: at }
  }

  /** Proposes a report; `persist` retries it with a backoff while there is no coordinator. What the table answered, or undefined when it did not commit. */
  private async report (op: JobOp, persist: boolean): Promise<JobResult | undefined> {
    for (let i = 1; ; i++) {
      try {
        return await this.reports.propose(op)
      } catch (err) {
        if (!persist || i >= REPORT_TRIES) {
          this.c.log.warn({ err, type: op.type }, 'job report not committed')
          return undefined
        }
        await new Promise<void>(resolve => this.c.clock.setTimeout(resolve, REPORT_BACKOFF_MS * i))
      }
    }
  }
}

function firstOutcome (r: JobResult | undefined): JobOutcome | undefined {
  return Array.isArray(r) ? r[0] : r
}
