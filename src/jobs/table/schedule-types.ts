import type { ScheduleSpec } from '../schedule/timing.js'

/** `scheduled` fires; `canceled` (Pulzar's spelling) never fires again; `done` was a `once` schedule that fired. */
export type ScheduleState = 'scheduled' | 'canceled' | 'done'

/** One decided tick of a schedule: the job it fired, or why it fired none. */
export interface Execution {
  tick: number
  /** The job the tick fired; absent when it was skipped. */
  jobId?: number
  /** `overlap`: the previous firing still ran (overlap skip). */
  skipped?: 'overlap'
}

/** What every firing of a schedule launches. */
export interface JobTemplate {
  seed: string
  seedHash: string
  args: Record<string, unknown>
  priority?: number
  dataKey?: string
  timeoutMs?: number
  retries?: number
}

/** A schedule as the table holds it (issue 15). Times are ms since the epoch, stamped by a proposer. */
export interface Schedule {
  /** Taken from the job ids' sequence, so `cancel_job/{id}` names one thing. */
  scheduleId: number
  template: JobTemplate
  spec: ScheduleSpec
  state: ScheduleState
  createdAt: number
  updatedAt: number
  /** Ticks count from here: the creation. */
  anchor: number
  /** The newest tick decided (fired, skipped or passed over); the anchor before the first. */
  lastTick: number
  /** The newest decided ticks, oldest first, at most MAX_EXECUTIONS. */
  executions: Execution[]
  fired: number
  skipped: number
  /** The job of the newest firing (what the overlap policy looks at). */
  lastJobId?: number
  dedupKey?: string
  /** Registered from a seed's `schedule` export: the seed's name (withdrawn with the last copy). */
  fromSeed?: string
  cancelledAt?: number
}

interface Stamped { v: 1, at: number }

/** Records a schedule. Without `scheduleId` the table takes the next id of the job ids' sequence; with one, it must be that id. */
export interface ScheduleCommand extends Stamped {
  type: 'schedule'
  scheduleId?: number
  template: JobTemplate
  spec: ScheduleSpec
  dedupKey?: string
  fromSeed?: string
}

/**
 * Decides ticks of one schedule, oldest first: each tick newer than the
 * schedule's lastTick fires a job (ids taken in order from the table's
 * sequence) or is skipped by the overlap policy; `skipThrough` passes over
 * the ticks up to it. A tick at or before lastTick is ignored: a tick fires
 * once, whoever proposes it and however often.
 */
export interface FireCommand extends Stamped {
  type: 'fire'
  scheduleId: number
  ticks: number[]
  skipThrough?: number
  /** The seed's content hash now (the catalog's): a schedule runs the seed as it is when it fires. Absent: the template's. */
  seedHash?: string
}
