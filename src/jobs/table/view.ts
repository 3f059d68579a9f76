import type { Job, JobAttempt, JobLimits } from './types.js'

/** A job as queries return it: the table's record, read-only, valid until the next apply. */
export type JobView = Readonly<Omit<Job, 'args' | 'limits' | 'progress' | 'attempts'>> & {
  readonly args: Readonly<Record<string, unknown>>
  readonly limits: Readonly<JobLimits>
  readonly progress?: Readonly<{ fraction: number, text?: string }>
  readonly attempts: ReadonlyArray<Readonly<JobAttempt>>
}
