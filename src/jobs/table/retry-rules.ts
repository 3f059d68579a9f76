// The retry rules, pure: how long a failed job waits before it runs again,
// whether a failed or lost attempt is retried or ends the job, and which live
// attempts the coordinator must re-queue because their worker is gone. The
// randomness (jitter) and the time are inputs; JobTable.apply calls the
// decisions with the counts it keeps, the proposer draws the backoff.
import type { Random } from '../../common/random.js'
import { HEARTBEAT_TIMEOUT_MS, RETRY_BASE_MS, RETRY_CAP_MS, START_TIMEOUT_MS } from './constants.js'
import { LIVE_STATES, type Job } from './types.js'
import type { JobView } from './view.js'

/** Backoff shape. */
export interface BackoffPolicy {
  /** First delay before jitter, ms. @default RETRY_BASE_MS */
  baseMs?: number
  /** Largest delay, ms. @default RETRY_CAP_MS */
  capMs?: number
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff and Jitter"): uniform in [0, min(cap, base x 2^(n-1))) for the
 * n-th failure, so that jobs failing together do not come back together.
 */
export function backoffMs (failures: number, random: Random, policy: BackoffPolicy = {}): number {
  const base = policy.baseMs ?? RETRY_BASE_MS
  const cap = policy.capMs ?? RETRY_CAP_MS
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, Math.min(failures - 1, 52)))
  return Math.floor(random() * ceiling)
}

/** A failed attempt is retried while the job has failed at most `retries` times (this failure counted) and the failure is retryable. */
export function afterFailure (job: Pick<Job, 'failures' | 'limits'>, retryable = true): 'retry' | 'fail' {
  return retryable && job.failures + 1 <= job.limits.retries ? 'retry' : 'fail'
}

/** A lost attempt (dead or silent worker) is re-queued while the job has lost at most `maxLost` (this one counted). */
export function afterLoss (job: Pick<Job, 'losses' | 'limits'>): 'requeue' | 'fail' {
  return job.losses + 1 <= job.limits.maxLost ? 'requeue' : 'fail'
}

/**
 * For a proposer about to report a failed attempt of `job`: when it may run
 * again (`now` + a jittered backoff), or undefined when it will not be
 * retried. Goes into FinishedCommand.retryAt.
 */
export function retryAt (job: Pick<Job, 'failures' | 'limits'>, now: number, random: Random, policy: BackoffPolicy = {}, retryable = true): number | undefined {
  if (afterFailure(job, retryable) === 'fail') return undefined
  return now + backoffMs(job.failures + 1, random, policy)
}

/** What the coordinator knows of the workers when it looks for lost attempts. */
export interface WorkerLiveness {
  now: number
  /** Membership says the peer is alive (suspect counts as alive: SWIM may still refute). */
  isAlive: (peerId: string) => boolean
  /** Silence after which a live attempt is lost, ms. @default HEARTBEAT_TIMEOUT_MS */
  heartbeatTimeoutMs?: number
  /**
   * Silence is counted from no earlier than this, ms since the epoch: a new
   * leader passes the time it was elected, so that it does not re-queue the
   * jobs whose heartbeats only its predecessor heard (when heartbeats are not
   * all committed). @default 0
   */
  since?: number
  /**
   * The coordinator's term now. An attempt assigned in an older term that has
   * not started is lost ('not started') once `startTimeoutMs` passed since
   * `since`: its order may have died with the coordinator that gave it.
   * Undefined: no such rule.
   */
  term?: number
  /** @default START_TIMEOUT_MS */
  startTimeoutMs?: number
}

/** A live attempt to re-queue, and why. 'not started' is re-queued as `unstarted` (see RequeueCommand). */
export interface LostAttempt { jobId: number, attempt: number, peerId: string, reason: 'worker dead' | 'worker silent' | 'not started' }

/**
 * When a live attempt counts as lost unless its worker is heard from before
 * (then `lastHeard` moves): the heartbeat timeout after the last word (or
 * `since`), or sooner for an attempt of an older term that has not started.
 * Undefined when the attempt is not live.
 */
export function lossDeadline (job: JobView, w: Omit<WorkerLiveness, 'now' | 'isAlive'>): { at: number, reason: 'worker silent' | 'not started' } | undefined {
  if (!LIVE_STATES.has(job.state)) return undefined
  const quietSince = Math.max(job.lastHeard ?? job.updatedAt, w.since ?? 0)
  const silent = { at: quietSince + (w.heartbeatTimeoutMs ?? HEARTBEAT_TIMEOUT_MS), reason: 'worker silent' } as const
  if (w.term === undefined || job.startedAt !== undefined || (job.term ?? 0) >= w.term) return silent
  const orphan = { at: quietSince + (w.startTimeoutMs ?? START_TIMEOUT_MS), reason: 'not started' } as const
  return orphan.at < silent.at ? orphan : silent
}

/**
 * The live attempts whose worker is dead, or silent (no assignment ack,
 * start, progress or heartbeat) for longer than the heartbeat timeout, or
 * that an earlier coordinator assigned and that did not start in time. Each
 * becomes a RequeueCommand; the table ignores it if the attempt ended since.
 */
export function findLost (jobs: Iterable<JobView>, w: WorkerLiveness): LostAttempt[] {
  const lost: LostAttempt[] = []
  for (const job of jobs) {
    if (!LIVE_STATES.has(job.state) || job.peerId === undefined) continue
    const base = { jobId: job.jobId, attempt: job.attempt, peerId: job.peerId }
    const deadline = lossDeadline(job, w) as { at: number, reason: LostAttempt['reason'] }
    if (!w.isAlive(job.peerId)) lost.push({ ...base, reason: 'worker dead' })
    else if (w.now > deadline.at) lost.push({ ...base, reason: deadline.reason })
  }
  return lost
}

/** The earliest time a `retrying` job becomes placeable, for the driver's timer; undefined when none waits. */
export function nextWakeAt (jobs: Iterable<JobView>): number | undefined {
  let min: number | undefined
  for (const job of jobs) {
    if (job.state === 'retrying' && job.notBefore !== undefined && (min === undefined || job.notBefore < min)) min = job.notBefore
  }
  return min
}
