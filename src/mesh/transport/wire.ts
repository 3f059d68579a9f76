import { Packr } from 'msgpackr'
import type { WireError } from '../../common/errors.js'
import { WIRE_VERSION } from './constants.js'
import type { Message } from './types.js'

/**
 * Frame kinds. Every ZeroMQ message is one msgpack header frame, plus one
 * raw bytes frame for DATA. The socket a frame arrives on says which side
 * of a call it belongs to: on the ROUTER, DATA/END/ABORT carry a request
 * body and CREDIT/STOP refer to a reply body; on a DEALER the other way round.
 */
export const Kind = {
  /** A request: `m`, sender `f` (peer id) and `a` (address), deadline `t` ms; `s` when a body follows. */
  REQ: 1,
  /** The reply to request `id`; `s` when a body follows. */
  REP: 2,
  /** The error a handler threw for request `id`. */
  ERR: 3,
  /** A one-way message `m` from `f` at `a`. */
  MSG: 4,
  /** Chunk number `q` (0, 1, ...) of a body, in the next frame; a gap fails the body rather than corrupt it. */
  DATA: 5,
  /** A body is complete. */
  END: 6,
  /** The sender of a body failed; `e` says why. */
  ABORT: 7,
  /** The receiver of a body read `n` more chunks: the sender may send `n` more. */
  CREDIT: 8,
  /** The receiver of a body no longer wants it. */
  STOP: 9,
  /** The requester gave up on request `id` (deadline, abort): stop serving it. */
  CANCEL: 10,
  /**
   * Several messages in one ZeroMQ message (the send queue coalesces what
   * waits while a send is in progress): `n` holds each one's frame count
   * (1, or 2 for DATA); their frames follow in order.
   */
  BATCH: 11
} as const

export type Header =
  | { v: number, k: typeof Kind.REQ, id: number, m: Message, f: string, a: string, t: number, s?: 1 }
  | { v: number, k: typeof Kind.REP, id: number, m: Message, s?: 1 }
  | { v: number, k: typeof Kind.ERR | typeof Kind.ABORT, id: number, e: WireError }
  | { v: number, k: typeof Kind.MSG, m: Message, f: string, a: string }
  | { v: number, k: typeof Kind.DATA, id: number, q: number }
  | { v: number, k: typeof Kind.END | typeof Kind.STOP | typeof Kind.CANCEL, id: number }
  | { v: number, k: typeof Kind.CREDIT, id: number, n: number }
  | { v: number, k: typeof Kind.BATCH, n: number[] }

// Plain maps, no records: a ROUTER hears many peers, so msgpackr's per-stream structures cannot be shared.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false })

export function encode (header: Header): Buffer {
  return packr.pack(header)
}

/** Control frames are tiny and frequent; these build them without a caller-side object. */
export const control = (k: typeof Kind.END | typeof Kind.STOP | typeof Kind.CANCEL, id: number): Buffer =>
  packr.pack({ v: WIRE_VERSION, k, id })
export const data = (id: number, q: number): Buffer => packr.pack({ v: WIRE_VERSION, k: Kind.DATA, id, q })
export const credit = (id: number, n: number): Buffer => packr.pack({ v: WIRE_VERSION, k: Kind.CREDIT, id, n })
export const abort = (id: number, e: WireError): Buffer => packr.pack({ v: WIRE_VERSION, k: Kind.ABORT, id, e })
export const batch = (counts: number[]): Buffer => packr.pack({ v: WIRE_VERSION, k: Kind.BATCH, n: counts })

/**
 * The messages of a BATCH, each as its frames, after `skip` leading frames
 * (the routing id on a ROUTER) and the batch header; a string says why the
 * batch is malformed (counts that are not 1 or 2, or do not add up).
 */
export function unbatch (frames: Buffer[], skip: number, counts: number[]): Buffer[][] | string {
  const out: Buffer[][] = []
  let at = skip + 1
  for (const c of counts) {
    if (c !== 1 && c !== 2) return 'bad batch count'
    out.push(frames.slice(at, at + c))
    at += c
  }
  return at === frames.length ? out : 'batch counts do not match its frames'
}

/**
 * Parses and checks a header frame; a string says why it was refused
 * (malformed msgpack, another wire version, a missing or mistyped field).
 * Frames come from authenticated peers, but a bug there must not crash us.
 */
export function decode (frame: Buffer): Header | string {
  let h: Record<string, unknown>
  try {
    h = packr.unpack(frame) as Record<string, unknown>
  } catch {
    return 'malformed msgpack'
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return 'header is not a map'
  if (h.v !== WIRE_VERSION) return `unsupported wire version ${String(h.v)}`
  const k = h.k
  if (k === Kind.BATCH) return Array.isArray(h.n) && h.n.length > 0 ? h as Header : 'bad batch header'
  if (k !== Kind.MSG && !isId(h.id)) return 'bad id'
  switch (k) {
    case Kind.REQ:
      return isMessage(h.m) && typeof h.f === 'string' && typeof h.a === 'string' && typeof h.t === 'number' && h.t >= 0
        ? h as Header
        : 'bad request header'
    case Kind.MSG:
      return isMessage(h.m) && typeof h.f === 'string' && typeof h.a === 'string' ? h as Header : 'bad message header'
    case Kind.REP:
      return isMessage(h.m) ? h as Header : 'bad reply header'
    case Kind.ERR:
    case Kind.ABORT: {
      const e = h.e as Record<string, unknown> | null
      return e !== null && typeof e === 'object' && typeof e.code === 'string' && typeof e.message === 'string' ? h as Header : 'bad error header'
    }
    case Kind.CREDIT:
      return Number.isSafeInteger(h.n) && (h.n as number) > 0 ? h as Header : 'bad credit header'
    case Kind.DATA:
      return isId(h.q) ? h as Header : 'bad data header'
    case Kind.END:
    case Kind.STOP:
    case Kind.CANCEL:
      return h as Header
    default:
      return `unknown frame kind ${String(k)}`
  }
}

const isId = (id: unknown): boolean => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0

function isMessage (m: unknown): m is Message {
  return m !== null && typeof m === 'object' && !Array.isArray(m) && typeof (m as Message).type === 'string'
}
