import type { ErrorCode } from '../../common/errors.js'
import type { FireCommand, ScheduleCommand } from './schedule-types.js'
import type { BatchOp } from './batch-types.js'

/**
 * Where a job is in its life. `queued` waits for a peer; `assigned` was given
 * to one (attempt n, term t) that has not said it started; `running` runs;
 * `cancelling` was cancelled while assigned or running and waits for the
 * worker's last word; `retrying` waits for its backoff (`notBefore`) before
 * it may be placed again. `ready`, `failed` and `cancelled` are final (a
 * `retry` command re-drives a failed job).
 */
export type JobState = 'queued' | 'assigned' | 'running' | 'cancelling' | 'retrying' | 'ready' | 'failed' | 'cancelled'

/** The states a job never leaves on its own. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['ready', 'failed', 'cancelled'])
/** The states in which an attempt is live on a worker. */
export const LIVE_STATES: ReadonlySet<JobState> = new Set(['assigned', 'running', 'cancelling'])

/** How an attempt ended: `lost` when its worker died or went silent. */
export type AttemptOutcome = 'ready' | 'failed' | 'cancelled' | 'lost'

/** One try of a job on one peer; kept for every attempt, in order. */
export interface JobAttempt {
  /** 1 for the first attempt, then +1 per assignment, never reused. */
  attempt: number
  peerId: string
  /** Coordinator term of the assignment (a worker refuses older terms: Fence). */
  term: number
  /** ms since the epoch, as stamped by the proposer. */
  assignedAt: number
  startedAt?: number
  endedAt?: number
  outcome?: AttemptOutcome
  /** Why it failed or was lost (error message, 'worker dead', 'timeout', ...). */
  reason?: string
  /** endedAt - (startedAt ?? assignedAt), ms. */
  durationMs?: number
}

/** Limits of one job, fixed at launch. */
export interface JobLimits {
  /** Run time allowed to one attempt, ms; enforced by the worker. Undefined: none. */
  timeoutMs?: number
  /** Failed attempts re-run after the first. @default DEFAULT_RETRIES */
  retries: number
  /** Lost attempts (dead or silent worker) that are re-queued; one more fails the job. @default MAX_LOST_ATTEMPTS */
  maxLost: number
}

/** A job as the table holds it. Every time is ms since the epoch, stamped by a proposer. */
export interface Job {
  /** Positive integer, the next one at launch (or chosen by the proposer: see LaunchCommand), never reused. */
  jobId: number
  /** Seed name, `dir/script` (Pulzar's job path and name). */
  seed: string
  /** Content hash of the seed at launch: only peers holding this version run it. */
  seedHash: string
  /** The launch body: Pulzar's `parameters`. */
  args: Record<string, unknown>
  /** 0-9, 9 most urgent. */
  priority: number
  dedupKey?: string
  /** `pulzar_data`: the store key whose replicas should run the job. */
  dataKey?: string
  limits: JobLimits
  /** Set when a schedule fired this job: the schedule and the tick. */
  scheduleId?: number
  firedAt?: number
  /** Set on the tasks of a batch (issue 16): the batch; its key is `dataKey`. */
  batchId?: number
  /** A firing queued behind the previous one (overlap `queue`): not placed while that job is active. */
  waitsFor?: number
  /** The launch command's nonce (see LaunchCommand.nonce). */
  nonce?: string
  state: JobState
  /** Launch order across the table: FIFO within a priority. */
  seq: number
  createdAt: number
  updatedAt: number
  /** `retrying` jobs may not be placed before this time. */
  notBefore?: number
  /** Number of the latest attempt; 0 before the first assignment. */
  attempt: number
  /** Peer of the latest attempt (Pulzar's `node`). */
  peerId?: string
  /** Term of the latest assignment. */
  term?: number
  /** Start of the latest attempt. */
  startedAt?: number
  /** When the job reached a final state. */
  endedAt?: number
  /** Last report from the worker of the live attempt (assignment, start, progress, heartbeat). */
  lastHeard?: number
  progress?: { fraction: number, text?: string }
  /** The result (JSON when the seed returned JSON). Big outputs live in the store: see outputKey. */
  output?: unknown
  /** Store key holding an output too big for the table. */
  outputKey?: string
  /** Why the job failed, as the last failed attempt said. */
  error?: string
  /** Tail of the log of the latest finished attempt, at most MAX_LOG_CHARS. */
  log: string
  logTruncated: boolean
  /** Failed attempts since launch or the last `retry` command. */
  failures: number
  /** Lost attempts since launch or the last `retry` command. */
  losses: number
  /** When a cancel was asked. */
  cancelledAt?: number
  attempts: JobAttempt[]
}

interface Stamped { v: 1, /** ms since the epoch: the proposer's clock, never the applier's. */ at: number }

/**
 * Records a new job (or returns the job of the same dedup key within
 * DEDUP_WINDOW_MS). Without `jobId` the table gives the next id (no read
 * barrier, no conflict between concurrent launches); with one, the proposer
 * chose it (JobTable.nextJobId) and a replay of the same launch is answered
 * like the first.
 */
export interface LaunchCommand extends Stamped {
  type: 'launch'
  jobId?: number
  seed: string
  seedHash: string
  args?: Record<string, unknown>
  /** @default DEFAULT_PRIORITY */
  priority?: number
  dedupKey?: string
  dataKey?: string
  timeoutMs?: number
  /** @default DEFAULT_RETRIES */
  retries?: number
  /** @default MAX_LOST_ATTEMPTS */
  maxLost?: number
  scheduleId?: number
  firedAt?: number
  /**
   * Unique per launch, drawn by the proposer: the same command applied again
   * (a replay) is answered like the first. Without it, a second launch of the
   * id is refused ERR_CONFLICT, even of the same seed in the same millisecond.
   */
  nonce?: string
}
/** Gives a queued (or due retrying) job to a peer: `attempt` must be the job's attempt + 1. */
export interface AssignCommand extends Stamped { type: 'assign', jobId: number, peerId: string, attempt: number, term: number }
/** The worker started the attempt. */
export interface StartedCommand extends Stamped { type: 'started', jobId: number, attempt: number }
/**
 * New log lines of the live attempt, carried by its progress and heartbeat
 * reports (at most MAX_RELAY_LINES each) so that followers of the job
 * (`GET /jobs/{id}/events`) hear them as they come. The table never keeps
 * them: the attempt's log tail arrives with `finished`.
 */
interface RelayedLines { lines?: string[] }
export interface ProgressCommand extends Stamped, RelayedLines { type: 'progress', jobId: number, attempt: number, fraction: number, text?: string }
/** The worker of the live attempt is alive; a driver may commit these sparingly (only findLost reads them). */
export interface HeartbeatCommand extends Stamped, RelayedLines { type: 'heartbeat', jobId: number, attempt: number }
/**
 * The worker's last word on an attempt. A report for another attempt than the
 * live one is ignored. While `cancelling`: ok → ready (the work was done),
 * a failure → cancelled.
 */
export interface FinishedCommand extends Stamped {
  type: 'finished'
  jobId: number
  attempt: number
  ok: boolean
  output?: unknown
  outputKey?: string
  /** Failure reason (error message, `timeout`, exit code). */
  error?: string
  /** Tail of the attempt's log. */
  log?: string
  logTruncated?: boolean
  /** False for a failure no retry can fix (seed failed to load). @default true */
  retryable?: boolean
  /** When a failed attempt may run again, if retries remain (the proposer draws the backoff: retry-rules). Absent: at once. */
  retryAt?: number
}
/** Cancels: a waiting job at once, a live one becomes `cancelling`; idempotent. */
export interface CancelCommand extends Stamped { type: 'cancel', jobId: number, reason?: string }
/** The worker of the live attempt died or went silent: the attempt ends `lost`. */
export interface RequeueCommand extends Stamped {
  type: 'requeue'
  jobId: number
  attempt: number
  reason: string
  retryAt?: number
  /**
   * The order may never have reached the worker (not delivered, or sent by a
   * coordinator that is gone): applies only while the attempt has not
   * started, and does not count against maxLost, since it never ran. A worker
   * runs an attempt only once its `started` committed on the live attempt, so
   * of the two, whichever commits first wins and the job runs once.
   */
  unstarted?: boolean
}
/** Re-drives a failed job with fresh retry budgets. */
export interface RetryCommand extends Stamped { type: 'retry', jobId: number }
/** Drops final jobs that ended before `before` (history retention) and expired dedup keys. */
export interface PruneCommand extends Stamped { type: 'prune', before: number }

/** One operation on the table. */
export type JobOp = LaunchCommand | AssignCommand | StartedCommand | ProgressCommand | HeartbeatCommand | FinishedCommand | CancelCommand | RequeueCommand | RetryCommand | PruneCommand |
ScheduleCommand | FireCommand | BatchOp
/** Several operations in one log entry, applied in order; each gets its own outcome. */
export interface BatchCommand { type: 'batch', v: 1, commands: JobOp[] }
/** What a log entry of the job table carries. */
export type JobCommand = JobOp | BatchCommand

/**
 * What one operation did. `changed: false` means it was a no-op on purpose
 * (a repeated cancel, a report about an attempt that is no longer live); a
 * refusal has `ok: false` and the error code a proposer should answer with.
 */
export type JobOutcome =
  | { ok: true, changed: boolean, jobId?: number, state?: JobState, attempt?: number, deduped?: boolean, pruned?: number, fired?: number[] }
  | { ok: false, code: ErrorCode, message: string, jobId?: number }

/** One outcome per operation: an array for a batch. */
export type JobResult = JobOutcome | JobOutcome[]
