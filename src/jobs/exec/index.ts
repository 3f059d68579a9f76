import { ProcessJobRunner } from './job-runner.js'
import type { JobRunner, JobRunnerComponents, JobRunnerInit } from './types.js'

export type { AttemptLog } from './log-buffer.js'
export type {
  AttemptSeed, AttemptSpec, LogStream, AttemptEvents, AttemptState, AttemptOutcome, JobStore, JobEmit, JobEmitOptions, JobRunner, JobRunnerComponents, JobRunnerInit,
  AttemptId, DataFile, JobData
} from './types.js'
export { Slots } from './slots.js'
export { StoreJobData, outputKeyOf, type StoreJobDataComponents, type StoreJobDataInit } from './job-data.js'

/**
 * The worker-side runtime of job attempts (issue 14 "Execution"): module
 * seeds in warm child processes, executables, Pulzar Python classes.
 */
export function createJobRunner (components: JobRunnerComponents, init: JobRunnerInit = {}): JobRunner {
  return new ProcessJobRunner(components, init)
}
