import { JobTable, type JobOp, type JobOutcome, type LaunchCommand } from '../../../src/jobs/index.js'

/** Launch command with defaults; `at` defaults to T0. */
export const T0 = Date.UTC(2026, 0, 1)
export const launch = (jobId: number, p: Partial<LaunchCommand> = {}): LaunchCommand =>
  ({ type: 'launch', v: 1, at: T0, jobId, seed: 'example/factorial', seedHash: 'h1', args: { number: 5 }, ...p })

/** Builds single commands tersely. */
export const cmd = {
  assign: (jobId: number, peerId: string, attempt: number, term = 1, at = T0): JobOp => ({ type: 'assign', v: 1, at, jobId, peerId, attempt, term }),
  started: (jobId: number, attempt: number, at = T0): JobOp => ({ type: 'started', v: 1, at, jobId, attempt }),
  progress: (jobId: number, attempt: number, fraction: number, at = T0): JobOp => ({ type: 'progress', v: 1, at, jobId, attempt, fraction, text: 'half' }),
  heartbeat: (jobId: number, attempt: number, at = T0): JobOp => ({ type: 'heartbeat', v: 1, at, jobId, attempt }),
  ok: (jobId: number, attempt: number, at = T0, output: unknown = 120): JobOp => ({ type: 'finished', v: 1, at, jobId, attempt, ok: true, output, log: 'done' }),
  fail: (jobId: number, attempt: number, at = T0, retryAt?: number): JobOp => ({ type: 'finished', v: 1, at, jobId, attempt, ok: false, error: 'boom', log: 'trace', retryAt }),
  cancel: (jobId: number, at = T0): JobOp => ({ type: 'cancel', v: 1, at, jobId }),
  requeue: (jobId: number, attempt: number, at = T0, reason = 'worker dead'): JobOp => ({ type: 'requeue', v: 1, at, jobId, attempt, reason }),
  retry: (jobId: number, at = T0): JobOp => ({ type: 'retry', v: 1, at, jobId }),
  prune: (before: number, at = before): JobOp => ({ type: 'prune', v: 1, at, before })
}

/** Applies single commands one by one and returns their outcomes. */
export function run (table: JobTable, ...ops: JobOp[]): JobOutcome[] {
  return ops.map(op => table.apply(op) as JobOutcome)
}
