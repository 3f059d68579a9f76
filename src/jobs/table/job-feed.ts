import type { JobCommand } from './types.js'
import type { JobView } from './view.js'

/** What one applied command meant for one job: the job after it (undefined once pruned) and the log lines it relayed. */
export interface JobChange {
  job: JobView | undefined
  /** New log lines of the live attempt, in order (see `lines` of progress and heartbeat reports). */
  lines: readonly string[]
}

/**
 * The change an applied command made to job `jobId`, or undefined when it
 * did not touch it: what followers of a job (`GET /jobs/{id}/events`) hear.
 * `job` is the table's record after the apply. Lines of another attempt than
 * the job's latest are left out (a late report of a lost attempt).
 */
export function jobChange (command: JobCommand, jobId: number, job: JobView | undefined): JobChange | undefined {
  const ops = command.type === 'batch' ? (Array.isArray(command.commands) ? command.commands : []) : [command]
  let touched = false
  const lines: string[] = []
  for (const op of ops) {
    if (op?.type === 'prune') {
      touched ||= job === undefined
      continue
    }
    if ((op as { jobId?: unknown })?.jobId !== jobId) continue
    touched = true
    if ((op.type === 'progress' || op.type === 'heartbeat') && Array.isArray(op.lines) && op.attempt === job?.attempt) lines.push(...op.lines)
  }
  return touched ? { job, lines } : undefined
}
