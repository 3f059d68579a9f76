// The body of `launch_batch/{dir}/{script}` (issue 16), checked once here.
import { badRequest } from '../common/errors.js'
import { MAX_BATCH_KEYS, MAX_PRIORITY, MAX_RETRIES, MIN_PRIORITY, type BatchLimits } from '../jobs/index.js'
import { validateKey } from '../store/index.js'
import type { BatchRequest } from './types.js'

/** Longest task timeout and locality wait a batch may ask for: a week. */
const MAX_WAIT_MS = 7 * 24 * 60 * 60 * 1000
const FIELDS = new Set(['prefix', 'keys', 'args', 'priority', 'maxWorkers', 'perWorkerQueue', 'taskTimeoutMs', 'maxTries', 'peers', 'locality', 'localityWaitMs', 'maxPending', 'outputPrefix'])

/** A key or prefix with its leading `/`. */
const rooted = (s: string): string => s.startsWith('/') ? s : `/${s}`

/** The request of a parsed JSON body; 400 naming the first field that is wrong. */
export function batchRequestOf (body: Record<string, unknown>, seed: { name: string, hash: string, limits: { timeoutMs?: number, retries?: number } }): BatchRequest {
  const unknown = Object.keys(body).filter(k => !FIELDS.has(k))
  if (unknown.length > 0) throw badRequest(`unknown field ${unknown[0]}; a batch takes ${[...FIELDS].join(', ')}`)
  const { prefix, keys, args } = body
  if ((prefix === undefined) === (keys === undefined)) throw badRequest('a batch needs "prefix" (a key prefix) or "keys" (a list of keys), not both')
  const req: BatchRequest = { seed: seed.name, seedHash: seed.hash, args: {}, limits: {} }
  if (prefix !== undefined) {
    if (typeof prefix !== 'string' || prefix.length > 1024 || /\s/.test(prefix)) throw badRequest('prefix must be a key prefix such as "photos/2024/"')
    req.prefix = rooted(prefix)
  }
  if (keys !== undefined) {
    if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_BATCH_KEYS) throw badRequest(`keys must be a list of 1 to ${MAX_BATCH_KEYS} keys`)
    req.keys = [...new Set(keys.map(k => {
      if (typeof k !== 'string') throw badRequest('keys must be strings')
      validateKey(rooted(k))
      return rooted(k)
    }))]
  }
  if (args !== undefined) {
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw badRequest('args must be a JSON object')
    req.args = args as Record<string, unknown>
  }
  const priority = int(body, 'priority', MIN_PRIORITY, MAX_PRIORITY)
  if (priority !== undefined) req.priority = priority
  const l: Partial<BatchLimits> = {}
  const set = <K extends keyof BatchLimits>(k: K, v: BatchLimits[K] | undefined): void => { if (v !== undefined) l[k] = v }
  set('maxWorkers', int(body, 'maxWorkers', 1, 1_000_000))
  set('perWorkerQueue', int(body, 'perWorkerQueue', 0, 1_000_000))
  set('taskTimeoutMs', int(body, 'taskTimeoutMs', 1, MAX_WAIT_MS) ?? seed.limits.timeoutMs)
  set('maxTries', int(body, 'maxTries', 1, MAX_RETRIES + 1) ?? (seed.limits.retries !== undefined ? seed.limits.retries + 1 : undefined))
  set('localityWaitMs', int(body, 'localityWaitMs', 0, MAX_WAIT_MS))
  set('maxPending', int(body, 'maxPending', 0, 1_000_000_000))
  if (body.peers !== undefined) {
    if (typeof body.peers !== 'string' || body.peers === '' || body.peers.length > 256) throw badRequest('peers must be a glob of peer ids such as "worker-*"')
    l.peers = body.peers
  }
  if (body.locality !== undefined) {
    if (body.locality !== 'hard' && body.locality !== 'soft') throw badRequest('locality must be "hard" or "soft"')
    l.locality = body.locality
  }
  req.limits = l
  if (body.outputPrefix !== undefined) {
    if (typeof body.outputPrefix !== 'string' || body.outputPrefix.replace(/\/+$/, '') === '') throw badRequest('outputPrefix must be a key prefix such as "results/"')
    const out = rooted(body.outputPrefix)
    validateKey(out.replace(/\/+$/, ''))
    // Outputs under the listed prefix would be listed as new keys of the batch.
    if (req.prefix !== undefined && (out.startsWith(req.prefix) || req.prefix.startsWith(out))) throw badRequest('outputPrefix must not overlap prefix')
    req.outputPrefix = out
  }
  return req
}

function int (body: Record<string, unknown>, field: string, min: number, max: number): number | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) throw badRequest(`${field} must be an integer from ${min} to ${max}`)
  return v as number
}
