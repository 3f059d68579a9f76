// Packet ids and payloads. An output's id is derived from its input's id, the
// stage and its index, so a packet processed twice (redelivered after a crash)
// yields the same output ids and the next stage's dedup window drops the
// copies. A payload over INLINE_PAYLOAD_BYTES travels through the store.
import { PmzError } from '../common/errors.js'
import type { Random } from '../common/random.js'
import { PAYLOAD_PREFIX } from './constants.js'
import { INLINE_PAYLOAD_BYTES, type Packet, type Payload } from './types.js'

/** The store as the pipelines need it: dead letters and large payloads. */
export interface PipelineStore {
  put(key: string, bytes: Uint8Array, options?: { temporalDays?: number }): Promise<void>
  /** Undefined when the key holds nothing. */
  get(key: string): Promise<Uint8Array | undefined>
  delete(key: string): Promise<void>
  /** Keys under `prefix`, in key order. */
  list(prefix: string): Promise<string[]>
}

/** Days a large payload is kept in the store (it is not deleted on ack: a redelivery may still need it). */
const PAYLOAD_DAYS = 7

/** Fresh ids of one peer: `{peer}-{time}-{random}-{n}` in base 36 (the store key alphabet). */
export function idMaker (peerId: string, now: () => number, random: Random): () => string {
  const prefix = `${peerId.replace(/[^A-Za-z0-9]/g, '').slice(0, 8)}-${now().toString(36)}-${Math.floor(random() * 2 ** 32).toString(36)}`
  let n = 0
  return () => `${prefix}-${(n++).toString(36)}`
}

/**
 * The id of the `index`-th output of `stage` for the input `parentId`: the
 * same on every peer and every run, 28 characters of base 36. A 128-bit
 * non-cryptographic hash (cyrb128, four multiply-xorshift lanes), not sha1:
 * one is made per packet per stage, and crypto.hash cost a few µs each (ids
 * are made by the mesh itself, so nobody gets to pick colliding inputs).
 */
export function childId (parentId: string, stage: string, index: number): string {
  // The hash of `${parentId}\u0000${stage}\u0000${index}`, fed piece by piece (no string made to hash).
  h1 = 1779033703
  h2 = 3144134277
  h3 = 1013904242
  h4 = 2773480762
  mix(parentId)
  mixCode(0)
  mix(stage)
  mixCode(0)
  mix(index < 10 && index >= 0 ? DIGITS[index] : String(index))
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067)
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233)
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213)
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179)
  h1 ^= (h2 ^ h3 ^ h4)
  h2 ^= h1
  h3 ^= h1
  h4 ^= h1
  lane(h1, 0)
  lane(h2, 7)
  lane(h3, 14)
  lane(h4, 21)
  return String.fromCharCode.apply(null, ID_CODES)
}

/** cyrb128's four lanes while an id is made (one at a time). */
let h1 = 0
let h2 = 0
let h3 = 0
let h4 = 0
const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']

function mix (s: string): void {
  for (let i = 0; i < s.length; i++) mixCode(s.charCodeAt(i))
}

function mixCode (k: number): void {
  h1 = h2 ^ Math.imul(h1 ^ k, 597399067)
  h2 = h3 ^ Math.imul(h2 ^ k, 2869860233)
  h3 = h4 ^ Math.imul(h3 ^ k, 951274213)
  h4 = h1 ^ Math.imul(h4 ^ k, 2716044179)
}

/** The character codes of an id being made (one id at a time: no array per id). */
const ID_CODES = new Array<number>(28).fill(48)
const BASE36 = Array.from('0123456789abcdefghijklmnopqrstuvwxyz', c => c.charCodeAt(0))

/** A 32-bit lane as 7 base-36 digits at `at` in ID_CODES: `(h >>> 0).toString(36).padStart(7, '0')` without the strings. */
function lane (h: number, at: number): void {
  let v = h >>> 0
  for (let i = at + 6; i >= at; i--) {
    const q = Math.floor(v / 36)
    ID_CODES[i] = BASE36[v - q * 36]
    v = q
  }
}

/** The payload's size on the wire, roughly (JSON text length for values). */
export function payloadBytes (payload: Payload): number {
  if (payload instanceof Uint8Array) return payload.byteLength
  if (typeof payload === 'string') return payload.length
  if (payload === undefined || payload === null || typeof payload !== 'object') return 16
  return JSON.stringify(payload)?.length ?? 0
}

/**
 * A packet's size in a pipe.push, roughly: the outbox closes a batch at
 * about PUSH_MAX_BYTES of these (a packet over it goes alone), since the
 * transport refuses a frame over its limit, and a refused push would be
 * retried as it is, forever.
 */
export function wireBytes (p: Packet): number { return packetBytes(p) + PACKET_OVERHEAD_BYTES }

/** A packet's fields besides its payload, roughly, on the wire. */
const PACKET_OVERHEAD_BYTES = 128

/** Whether the packet's payload is too large to travel inline. */
export function isLarge (packet: Packet): boolean { return packetBytes(packet) > INLINE_PAYLOAD_BYTES }

/** Moves a large payload into the store: the packet then carries `ref`. */
export async function externalize (packet: Packet, store: PipelineStore): Promise<Packet> {
  if (!isLarge(packet)) return packet
  const bin = packet.payload instanceof Uint8Array
  const ref = `${PAYLOAD_PREFIX}/${safe(packet.id)}.${bin ? 'bin' : 'json'}`
  const bytes = bin ? packet.payload as Uint8Array : Buffer.from(JSON.stringify(packet.payload))
  await store.put(ref, bytes, { temporalDays: PAYLOAD_DAYS })
  const { payload: _, ...rest } = packet
  return { ...rest, ref }
}

/** The packet with its payload back from the store when it travelled as `ref`. */
export async function internalize (packet: Packet, store: PipelineStore): Promise<Packet> {
  if (packet.ref === undefined) return packet
  const bytes = await store.get(packet.ref)
  if (bytes === undefined) throw new PmzError('ERR_NOT_FOUND', `payload ${packet.ref} not found`)
  const payload = packet.ref.endsWith('.bin') ? bytes : JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown
  return { ...packet, payload }
}

function packetBytes (p: Packet): number { return p.payload === undefined ? 0 : payloadBytes(p.payload) }

/** An id as one store key segment. */
export function safe (id: string): string { return id.replace(/[^A-Za-z0-9._~+|{}-]/g, '_') }
