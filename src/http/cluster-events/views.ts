// What each live event of `GET /events` carries (EVENTS-CONTRACT), as pure
// functions of the components' own records and events.
import type { JobCommand, JobOutcome, JobResult, JobView, Schedule } from '../../jobs/index.js'
import type { Member, MembershipEvent } from '../../mesh/membership/index.js'
import type { KeyChange } from '../../store/index.js'
import { batchSummary } from '../batch-views.js'
import { nextExecutionAt } from '../schedule-views.js'
import { pulzarStatus } from '../job-views.js'
import type { BatchRead } from '../types.js'

/** `peers`: a member's state as this peer sees it. */
export function peerEvent (m: Member): Record<string, unknown> {
  return { type: 'peer', id: m.peerId, state: m.state, roles: [...m.meta.roles], http: m.meta.http, incarnation: m.incarnation }
}

/**
 * Which membership events are news: a member's state, roles or gateway URL
 * changed (a meta update that only bumps the incarnation, e.g. its load or
 * free space, is not).
 */
export class PeerChanges {
  private readonly last = new Map<string, string>()

  /** The event to send for `e`, or undefined. */
  next (e: MembershipEvent): Record<string, unknown> | undefined {
    const m = e.member
    const sig = `${m.state}|${m.meta.roles.join(',')}|${m.meta.http}`
    if (this.last.get(m.peerId) === sig) return undefined
    this.last.set(m.peerId, sig)
    return peerEvent(m)
  }
}

/** `keys`: a committed change of a key. */
export function keyEvent (change: KeyChange): Record<string, unknown> {
  return change.type === 'put'
    ? { type: 'added', key: change.meta.key, size: change.meta.size }
    : { type: 'deleted', key: change.key, size: null }
}

/** `jobs`: a job as the table holds it after a change. */
export function jobEvent (job: JobView): Record<string, unknown> {
  return {
    type: 'job',
    job_id: job.jobId,
    script: job.seed,
    state: job.state,
    status: pulzarStatus(job.state),
    node: job.peerId ?? null,
    attempt: job.attempt,
    progress: job.progress === undefined ? null : { fraction: job.progress.fraction, text: job.progress.text ?? null }
  }
}

/** `schedules`: a schedule after a change; `fired` lists the jobs a firing launched. */
export function scheduleEvent (s: Readonly<Schedule>, fired?: readonly number[]): Record<string, unknown> {
  const next = nextExecutionAt(s)
  return {
    type: 'schedule',
    schedule_id: s.scheduleId,
    state: s.state,
    next_execution: next === undefined ? null : new Date(next).toISOString(),
    ...(fired !== undefined ? { fired: [...fired] } : {})
  }
}

/** `batches`: a batch's state and task counts at `now`. */
export function batchEvent (r: BatchRead, now: number): Record<string, unknown> {
  const s = batchSummary(r, now)
  return { type: 'batch', batch_id: s.batch_id, state: s.state, counts: s.counts }
}

/**
 * What one applied command of the job table touched: ids that may be jobs,
 * schedules or batches (a `cancel` names any of the three; the caller looks
 * each up), and the jobs each schedule firing launched. Heartbeats and
 * prunes touch nothing anyone is told about; a refused or no-op operation
 * neither.
 */
export interface Touched {
  jobs: Set<number>
  schedules: Map<number, number[] | undefined>
  batches: Set<number>
}

export function touchedBy (command: JobCommand, result: JobResult | undefined): Touched {
  const ops = command.type === 'batch' ? (Array.isArray(command.commands) ? command.commands : []) : [command]
  const outcomes: Array<JobOutcome | undefined> = Array.isArray(result) ? result : [result]
  const out: Touched = { jobs: new Set(), schedules: new Map(), batches: new Set() }
  ops.forEach((op, i) => {
    const o = outcomes[i]
    if (o?.ok === false || o?.changed === false || op === null || typeof op !== 'object') return
    const id = (op as { jobId?: unknown }).jobId ?? o?.jobId
    switch (op.type) {
      case 'launch': case 'assign': case 'started': case 'progress': case 'finished': case 'requeue': case 'retry':
        if (typeof id === 'number') out.jobs.add(id)
        break
      case 'cancel':
        out.jobs.add(op.jobId)
        out.schedules.set(op.jobId, undefined)
        out.batches.add(op.jobId)
        break
      case 'schedule': {
        const sid = op.scheduleId ?? o?.jobId
        if (typeof sid === 'number') out.schedules.set(sid, undefined)
        break
      }
      case 'fire':
        out.schedules.set(op.scheduleId, o?.fired ?? [])
        for (const j of o?.fired ?? []) out.jobs.add(j)
        break
      case 'batch.create': {
        const bid = op.batchId ?? o?.jobId
        if (typeof bid === 'number') out.batches.add(bid)
        break
      }
      case 'batch.tasks':
        out.batches.add(op.batchId)
        break
      default:
        break
    }
  })
  return out
}
