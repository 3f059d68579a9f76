// Shape checks of the job table's commands. They run inside apply, so they
// must be deterministic: the same command is refused the same way on every
// replica. Each returns the problem, or undefined when the command is sound.
import { MAX_EXECUTIONS, MAX_PRIORITY, MAX_RELAY_LINES, MAX_RELAY_LINE_CHARS, MAX_RETRIES, MIN_PRIORITY } from './constants.js'
import type { ScheduleCommand } from './schedule-types.js'
import { checkBatchOp } from './batch-validate.js'
import type { JobOp } from './types.js'

const isInt = (x: unknown, min = 0): x is number => Number.isSafeInteger(x) && (x as number) >= min
const isTime = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0
const isText = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max
const optional = (x: unknown, check: (x: unknown) => boolean): boolean => x === undefined || check(x)
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array)

const isLines = (x: unknown): boolean => Array.isArray(x) && x.length <= MAX_RELAY_LINES &&
  x.every(l => typeof l === 'string' && l.length <= MAX_RELAY_LINE_CHARS)

/** The first problem of `op`, or undefined. */
export function checkOp (op: JobOp): string | undefined {
  if (!isPlainObject(op)) return 'a job command must be an object'
  if (op.v !== 1) return `unknown job command version ${String(op.v)}`
  if (!isTime(op.at)) return 'a job command needs its time (at)'
  switch (op.type) {
    case 'prune': return isTime(op.before) ? undefined : 'prune needs a time (before)'
    case 'schedule': return checkSchedule(op)
    case 'fire':
      if (!isInt(op.scheduleId, 1)) return 'scheduleId must be a positive integer'
      if (!Array.isArray(op.ticks) || op.ticks.length > MAX_EXECUTIONS || !op.ticks.every(isTime)) return `ticks must be at most ${MAX_EXECUTIONS} times`
      if (!optional(op.seedHash, x => isText(x, 256))) return 'seedHash must be a hash'
      return optional(op.skipThrough, isTime) ? undefined : 'skipThrough must be a time'
    case 'batch.create':
    case 'batch.tasks':
      return checkBatchOp(op, checkTemplate)
    default:
      break
  }
  const jobId = (op as { jobId?: unknown }).jobId
  // A launch may leave its id to the table.
  if (!(op.type === 'launch' && jobId === undefined) && !isInt(jobId, 1)) return 'jobId must be a positive integer'
  switch (op.type) {
    case 'launch': return checkLaunch(op)
    case 'assign':
      if (!isText(op.peerId, 256)) return 'assign needs a peerId'
      if (!isInt(op.term)) return 'assign needs a term'
      return isInt(op.attempt, 1) ? undefined : 'attempt must be a positive integer'
    case 'started':
      return isInt(op.attempt, 1) ? undefined : 'attempt must be a positive integer'
    case 'heartbeat':
      if (!isInt(op.attempt, 1)) return 'attempt must be a positive integer'
      return optional(op.lines, isLines) ? undefined : `lines must be an array of at most ${MAX_RELAY_LINES} strings`
    case 'progress':
      if (!isInt(op.attempt, 1)) return 'attempt must be a positive integer'
      if (!optional(op.lines, isLines)) return `lines must be an array of at most ${MAX_RELAY_LINES} strings`
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
      if (!optional(op.unstarted, x => typeof x === 'boolean')) return 'unstarted must be a boolean'
      return optional(op.retryAt, isTime) ? undefined : 'retryAt must be a time'
    default:
      return `unknown job command ${String((op as { type?: unknown }).type)}`
  }
}

const ENUMS = { catchUp: ['none', 'last', 'all'], overlap: ['skip', 'queue', 'allow'] } as const

function checkSchedule (op: ScheduleCommand): string | undefined {
  if (!optional(op.scheduleId, x => isInt(x, 1))) return 'scheduleId must be a positive integer'
  if (!isPlainObject(op.template)) return 'schedule needs a job template'
  const problem = checkTemplate(op.template)
  if (problem !== undefined) return problem
  const spec = op.spec as unknown
  if (!isPlainObject(spec) || !isPlainObject(spec.timing)) return 'schedule needs a spec with a timing'
  const t = spec.timing
  if (!(t.kind === 'every' && isInt(t.everyMs, 1000)) && !(t.kind === 'cron' && isText(t.expr) && optional(t.tz, x => isText(x, 128)))) return 'bad schedule timing'
  if (!ENUMS.catchUp.includes(spec.catchUp as never) || !ENUMS.overlap.includes(spec.overlap as never)) return 'bad catchUp or overlap'
  if (!isInt(spec.maxCatchUp, 1) || spec.maxCatchUp > MAX_EXECUTIONS || typeof spec.once !== 'boolean') return 'bad maxCatchUp or once'
  if (!optional(op.dedupKey, x => isText(x)) || !optional(op.fromSeed, x => isText(x))) return 'dedupKey and fromSeed must be non-empty strings'
  return undefined
}

function checkLaunch (op: JobOp & { type: 'launch' }): string | undefined {
  const problem = checkTemplate(op)
  if (problem !== undefined) return problem
  if (!optional(op.dedupKey, x => isText(x))) return 'dedupKey must be a non-empty string of at most 1024 characters'
  if (!optional(op.maxLost, x => isInt(x))) return 'maxLost must be a non-negative integer'
  if (!optional(op.nonce, x => isText(x, 64))) return 'nonce must be a non-empty string of at most 64 characters'
  if (!optional(op.scheduleId, x => isInt(x, 1))) return 'scheduleId must be a positive integer'
  return optional(op.firedAt, isTime) ? undefined : 'firedAt must be a time'
}

/** What a launch and a schedule's template share. */
function checkTemplate (op: { seed?: unknown, seedHash?: unknown, args?: unknown, priority?: unknown, dataKey?: unknown, timeoutMs?: unknown, retries?: unknown }): string | undefined {
  if (!isText(op.seed)) return 'launch needs a seed name'
  if (!isText(op.seedHash, 256)) return 'launch needs the seed hash'
  if (!optional(op.args, isPlainObject)) return 'job arguments must be an object'
  if (!optional(op.priority, x => isInt(x, MIN_PRIORITY) && x <= MAX_PRIORITY)) return `priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`
  if (!optional(op.dataKey, x => isText(x))) return 'dataKey must be a key'
  if (!optional(op.timeoutMs, x => isInt(x, 1))) return 'timeoutMs must be a positive integer'
  return optional(op.retries, x => isInt(x) && x <= MAX_RETRIES) ? undefined : `retries must be an integer from 0 to ${MAX_RETRIES}`
}
