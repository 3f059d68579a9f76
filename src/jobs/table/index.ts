import { JOB_COMMAND_VERSION } from './constants.js'
import { JobTable } from './job-table.js'
import type { BatchCommand, JobOp } from './types.js'

export { JobTable, type ListOptions } from './job-table.js'
export type { JobView } from './view.js'
export { jobChange, type JobChange } from './job-feed.js'
export * from './types.js'
export * from './constants.js'
export { place, type Assignment, type PlacementInput, type PlacementJob, type WorkerView } from './placement-rules.js'
export { afterFailure, afterLoss, backoffMs, findLost, lossDeadline, nextWakeAt, retryAt, type BackoffPolicy, type LostAttempt, type WorkerLiveness } from './retry-rules.js'

/** An empty job table, to hand to createCoordinator as its state machine. */
export function createJobTable (): JobTable {
  return new JobTable()
}

/** One log entry carrying `commands` (each gets its own outcome). */
export function batch (commands: JobOp[]): BatchCommand {
  return { type: 'batch', v: JOB_COMMAND_VERSION, commands }
}
export type { Execution, FireCommand, JobTemplate, Schedule, ScheduleCommand, ScheduleState } from './schedule-types.js'
export type { Batch, BatchCreateCommand, BatchLimits, BatchTasksCommand } from './batch-types.js'
export { placeWithBatches, globToRegExp, type BatchPlacement, type BatchPlacementInput, type BatchPlacementJob } from './batch-rules.js'
