import { isTag } from '../../seeds/seed-stage.js'
import { MAX_PRIORITY, MIN_PRIORITY, type Packet } from '../types.js'
import type { Emitted } from './stage-messages.js'

/** How bytes travel in an executable's JSON (stdin and stdout lines): `{"$bytes": "<base64>"}`. */
export const BYTES_MARKER = '$bytes'

/** Bytes as a Buffer (structured clone turns a Buffer into a plain Uint8Array); anything else as it is. */
export function asBuffer (x: unknown): unknown {
  return x instanceof Uint8Array && !Buffer.isBuffer(x) ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : x
}

/** Throws a TypeError when `x` is neither a JSON value nor bytes (checked at the top level: a deep walk would cost every packet). */
export function checkPayload (x: unknown): void {
  const t = typeof x
  if (t === 'function' || t === 'symbol' || t === 'bigint' || t === 'undefined') throw new TypeError(`a payload must be a JSON value or bytes, not a ${t}`)
  if (x instanceof Map || x instanceof Set || x instanceof Date || x instanceof Promise) {
    throw new TypeError(`a payload must be a JSON value or bytes, not a ${(x as object).constructor.name}`)
  }
}

/** An iterator object (a sync generator's result), not merely an iterable value such as bytes or a string. */
function isIterator (x: object): x is Iterator<unknown> & Iterable<unknown> {
  return Symbol.iterator in x && typeof (x as { next?: unknown }).next === 'function'
}

/**
 * What a stage's `run` (or an event handler) returned, as payloads: nothing
 * for undefined or null, the elements of an array, an async iterable's or a
 * generator's items (null ones skipped, as PipeRT drops them), else the value
 * itself.
 */
export async function payloadsOf (value: unknown): Promise<unknown[]> {
  if (value === undefined || value === null) return []
  let items: unknown[]
  if (Array.isArray(value)) items = value
  else if (typeof value === 'object' && Symbol.asyncIterator in value) {
    items = []
    for await (const item of value as AsyncIterable<unknown>) items.push(item)
  } else if (typeof value === 'object' && isIterator(value)) items = [...value]
  else items = [value]
  const payloads = items.filter(p => p !== undefined && p !== null)
  for (const p of payloads) checkPayload(p)
  return payloads
}

/** Options of `ctx.emit(tag, payload, opts)`, checked: a bad one throws a TypeError in the seed's code. */
export function emittedOf (tag: unknown, payload: unknown, opts: unknown): Emitted {
  if (!isTag(tag)) throw new TypeError(`ctx.emit: ${JSON.stringify(tag) ?? String(tag)} is no tag (letters, digits, ._:-)`)
  checkPayload(payload)
  const item: Emitted = { tag, payload }
  if (opts === undefined || opts === null) return item
  if (typeof opts !== 'object') throw new TypeError('ctx.emit: options must be an object {key, priority, headers}')
  const { key, priority, headers } = opts as Record<string, unknown>
  if (key !== undefined) {
    if (typeof key !== 'string') throw new TypeError('ctx.emit: key must be a string')
    item.key = key
  }
  if (priority !== undefined) {
    if (!Number.isInteger(priority) || (priority as number) < MIN_PRIORITY || (priority as number) > MAX_PRIORITY) {
      throw new TypeError(`ctx.emit: priority must be an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`)
    }
    item.priority = priority as number
  }
  if (headers !== undefined) {
    if (typeof headers !== 'object' || headers === null || !Object.values(headers).every(v => typeof v === 'string')) {
      throw new TypeError('ctx.emit: headers must be an object of strings')
    }
    item.headers = { ...headers as Record<string, string> }
  }
  return item
}

/** A packet as an executable reads it on stdin: JSON, its payload's bytes as `{"$bytes": base64}`. */
export function packetJson (packet: Packet): string {
  const payload = packet.payload instanceof Uint8Array ? { [BYTES_MARKER]: Buffer.from(packet.payload.buffer, packet.payload.byteOffset, packet.payload.byteLength).toString('base64') } : packet.payload
  return JSON.stringify({ ...packet, payload })
}

/** One line of an executable's stdout as a payload: its JSON value (`{"$bytes": base64}` as bytes), or the line as text when it is no JSON. */
export function payloadOfLine (line: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    return line
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const o = value as Record<string, unknown>
    const keys = Object.keys(o)
    if (keys.length === 1 && keys[0] === BYTES_MARKER && typeof o[BYTES_MARKER] === 'string') return Buffer.from(o[BYTES_MARKER], 'base64')
  }
  return value
}
