import { isPmzError } from '../../common/errors.js'
import type { JobEmit, JobEmitOptions } from './types.js'
import type { ChildMessage, ParentMessage } from './module-messages.js'

type EmitRequest = Extract<ChildMessage, { type: 'emit' }>

/** Why `ctx.emit`'s arguments cannot make a packet, or undefined when they can (tag and priority are the pipelines' to check). */
function problem (req: EmitRequest): string | undefined {
  if (typeof req.tag !== 'string') return 'ctx.emit: the tag must be a string'
  const p = req.payload
  const t = typeof p
  if (t === 'undefined' || t === 'bigint') return `ctx.emit: a payload must be a JSON value or bytes, not ${t}`
  if (p instanceof Map || p instanceof Set || p instanceof Date || p instanceof RegExp) return `ctx.emit: a payload must be a JSON value or bytes, not a ${p.constructor.name}`
  const o = req.options
  if (o === undefined || o === null) return undefined
  if (typeof o !== 'object' || Array.isArray(o)) return 'ctx.emit: options must be an object {key, priority, headers}'
  const { key, priority, headers } = o as Record<string, unknown>
  if (key !== undefined && typeof key !== 'string') return 'ctx.emit: key must be a string'
  if (priority !== undefined && typeof priority !== 'number') return 'ctx.emit: priority must be an integer from 0 to 9'
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || !Object.values(headers).every(v => typeof v === 'string'))) {
    return 'ctx.emit: headers must be an object of strings'
  }
  return undefined
}

/** The options a job gave, without what it did not set. */
function optionsOf (o: unknown): JobEmitOptions {
  const { key, priority, headers } = (o ?? {}) as JobEmitOptions
  return { ...(key !== undefined ? { key } : {}), ...(priority !== undefined ? { priority } : {}), ...(headers !== undefined ? { headers: { ...headers } } : {}) }
}

/**
 * Answers a module child's `ctx.emit` call with the `emit` callback (the
 * pipelines' inject, wired by the node): its reply carries the packet id.
 * Bytes arrive as a Uint8Array and go on as a Buffer. Errors cross as
 * `{code, message}`; without the callback every call fails with ERR_UNAVAILABLE.
 */
export async function answerEmitCall (emit: JobEmit | undefined, req: EmitRequest): Promise<ParentMessage> {
  const fail = (code: string, message: string): ParentMessage => ({ type: 'emit:reply', call: req.call, ok: false, code, message })
  if (emit === undefined) return fail('ERR_UNAVAILABLE', 'ctx.emit is not available: this runner has no pipelines')
  const bad = problem(req)
  if (bad !== undefined) return fail('ERR_BAD_REQUEST', bad)
  const p = req.payload
  const payload = p instanceof Uint8Array && !Buffer.isBuffer(p) ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p
  try {
    return { type: 'emit:reply', call: req.call, ok: true, value: await emit(req.tag, payload, optionsOf(req.options)) }
  } catch (err) {
    return fail(isPmzError(err) ? err.code : 'ERR_INTERNAL', err instanceof Error ? err.message : String(err))
  }
}
