// Shape checks of the job table's commands. They run inside apply, so they
// must be deterministic: the same command is refused the same way on every
// replica. Each returns the problem, or undefined when the command is sound.
import { MAX_PRIORITY, MAX_RETRIES, MIN_PRIORITY } from './constants.js'
import type { JobOp } from './types.js'

const isInt = (x: unknown, min = 0): x is number => Number.isSafeInteger(x) && (x as number) >= min
const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0
const isText = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max
const optional = (x: unknown, check: (x: unknown) => boolean): boolean => x === undefined || check(x)
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array)

/** The first problem of `op`, or undefined. */
export function checkOp (op: JobOp): string | undefined {
  if (!isPlainObject(op)) return 'a job command must be an object'
  if (op.v !== 1) return `unknown job command version ${String(op.v)}`
  if (!isTime(op.at)) return 'a job command needs its time (at)'
  const jobId = (op as { jobId?: unknown }).jobId
  if (op.type !== 'prune' && !(op.type === 'launch' && jobId === undefined) && !isInt(jobId, 1)) return 'jobId must be a positive integer'
  switch (op.type) {
    case 'launch': return checkLaunch(op)
    case 'assign':
      if (!isText(op.peerId, 256)) return 'assign needs a peerId'
      if (!isInt(op.term)) return 'assign needs a term'
      return isInt(op.attempt, 1) ? undefined : 'attempt must be a positive integer'
    case 'started':
    case 'heartbeat':
      return isInt(op.attempt, 1) ? undefined : 'attempt must be a positive integer'
    case 'progress':
      if (!isInt(op.attempt, 1)) return 'attempt must be a positive integer'
      if (typeof op.fraction !== 'number' || !(op.fraction >= 0 && op.fraction <= 1)) return 'progress fraction must be within [0, 1]'
      return optional(op.text, x => typeof x === 'string') ? undefined : 'progress text must be a string'
    case 'finished':
      if (!isInt(op.attempt, 1)) return 'attempt must be a positive integer'
      if (typeof op.ok !== 'boolean') return 'finished needs ok'
      if (!optional(op.error, x => typeof x === 'string') || !optional(op.log, x => typeof x === 'string')) return 'error and log must be strings'
      if (!optional(op.outputKey, x => isText(x))) return 'outputKey must be a key'
      return optional(op.retryAt, isTime) ? undefined : 'retryAt must be a time'
    case 'cancel':
    case 'retry':
      return undefined
    case 'requeue':
      if (!isInt(op.attempt, 1)) return 'attempt must be a positive integer'
      if (typeof op.reason !== 'string') return 'requeue needs a reason'
      return optional(op.retryAt, isTime) ? undefined : 'retryAt must be a time'
    case 'prune':
      return isTime(op.before) ? undefined : 'prune needs a time (before)'
    default:
      return `unknown job command ${String((op as { type?: unknown }).type)}`
  }
}

function checkLaunch (op: JobOp & { type: 'launch' }): string | undefined {
  if (!isText(op.seed)) return 'launch needs a seed name'
  if (!isText(op.seedHash, 256)) return 'launch needs the seed hash'
  if (!optional(op.args, isPlainObject)) return 'job arguments must be an object'
  if (!optional(op.priority, x => isInt(x, MIN_PRIORITY) && x <= MAX_PRIORITY)) return `priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`
  if (!optional(op.dedupKey, x => isText(x))) return 'dedupKey must be a non-empty string of at most 1024 characters'
  if (!optional(op.dataKey, x => isText(x))) return 'dataKey must be a key'
  if (!optional(op.timeoutMs, x => isInt(x, 1))) return 'timeoutMs must be a positive integer'
  if (!optional(op.retries, x => isInt(x) && x <= MAX_RETRIES)) return `retries must be an integer from 0 to ${MAX_RETRIES}`
  if (!optional(op.maxLost, x => isInt(x))) return 'maxLost must be a non-negative integer'
  if (!optional(op.scheduleId, x => isInt(x, 1))) return 'scheduleId must be a positive integer'
  return optional(op.firedAt, isTime) ? undefined : 'firedAt must be a time'
}
