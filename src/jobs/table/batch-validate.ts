// Shape checks of the batch commands (issue 16); deterministic, like every
// check that runs inside apply.
import { MAX_BATCH_KEYS, MAX_RETRIES } from './constants.js'
import type { BatchLimits, BatchOp } from './batch-types.js'

const isInt = (x: unknown, min = 0): x is number => Number.isSafeInteger(x) && (x as number) >= min
const isText = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max
const optional = (x: unknown, check: (x: unknown) => boolean): boolean => x === undefined || check(x)
const isKeys = (x: unknown): x is string[] => Array.isArray(x) && x.length <= MAX_BATCH_KEYS && x.every(k => isText(k))

/** The first problem of a batch command, or undefined. */
export function checkBatchOp (op: BatchOp, checkTemplate: (t: object) => string | undefined): string | undefined {
  if (op.type === 'batch.tasks') {
    if (!isInt(op.batchId, 1)) return 'batchId must be a positive integer'
    if (!isKeys(op.keys)) return `keys must be at most ${MAX_BATCH_KEYS} keys`
    if (!optional(op.after, x => isText(x))) return 'after must be a key'
    return typeof op.done === 'boolean' ? undefined : 'done must be a boolean'
  }
  if (!optional(op.batchId, x => isInt(x, 1))) return 'batchId must be a positive integer'
  const problem = checkTemplate(op.template ?? {})
  if (problem !== undefined) return problem
  if ((op.prefix === undefined) === (op.keys === undefined)) return 'a batch needs a prefix or keys, not both'
  if (!optional(op.prefix, x => isText(x)) || !optional(op.keys, isKeys)) return `a batch needs a key prefix or at most ${MAX_BATCH_KEYS} keys`
  if (!optional(op.outputPrefix, x => isText(x)) || !optional(op.nonce, x => isText(x, 64))) return 'outputPrefix and nonce must be non-empty strings'
  return checkLimits(op.limits)
}

function checkLimits (l: Partial<BatchLimits> | undefined): string | undefined {
  if (l === null || typeof l !== 'object') return 'a batch needs its limits'
  for (const k of ['maxWorkers', 'taskTimeoutMs'] as const) if (!optional(l[k], x => isInt(x, 1))) return `${k} must be a positive integer`
  for (const k of ['perWorkerQueue', 'localityWaitMs', 'maxPending'] as const) if (!optional(l[k], x => isInt(x))) return `${k} must be a non-negative integer`
  if (!optional(l.maxTries, x => isInt(x, 1) && x <= MAX_RETRIES + 1)) return `maxTries must be an integer from 1 to ${MAX_RETRIES + 1}`
  if (!optional(l.locality, x => x === 'hard' || x === 'soft')) return 'locality must be hard or soft'
  return optional(l.peers, x => isText(x, 256)) ? undefined : 'peers must be a glob of peer ids'
}
