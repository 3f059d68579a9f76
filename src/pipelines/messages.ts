// The pipelines' wire (one-way mesh messages, msgpack): pushes of packets to
// a stage's peer, its acks and nacks back, lifecycle and custom events, and
// the status request. Every field is checked on arrival; a message of
// another version is refused.
import { PmzError } from '../common/errors.js'
import { checkPacketColumns, packetsFromColumns, type PacketColumns } from './columns.js'
import { PIPE_WIRE_VERSION } from './constants.js'
import { MAX_PRIORITY, MIN_PRIORITY, type Packet, type StagePeerStatus } from './types.js'

// Type aliases, not interfaces, so that messages are assignable to the transport's indexed Message.

/**
 * Sender -> receiver: packets for `stage` (all of one stage), as columns
 * (columns.ts): a few arrays and the payload bytes in one block, not a map
 * and a buffer per packet for msgpack to write and read.
 */
export type PushWire = { type: 'pipe.push', v: 3, stage: string, batch: number, cols: PacketColumns, again?: number[] }
/**
 * A push as it arrived, its packets checked and rebuilt (payloads view the
 * message's bytes). `again`: indices of the packets that may have reached
 * the stage before (the receiver looks them up in its dedup window).
 */
export type PushMessage = { type: 'pipe.push', v: 3, stage: string, batch: number, packets: Packet[], again?: number[] }
/** Packets of batch `batch` refused (full inbox, stopped stage): every packet of it when `ids` is absent. */
export type Nack = { batch: number, ids?: string[] }
/**
 * Receiver -> sender, per batch, not per packet: `done` names the batches
 * whose packets were all processed (or known) except those nacked before or
 * in this message; `nack` the packets refused, to route again later.
 * `inbox`: the receiver's depth now.
 */
export type AckMessage = { type: 'pipe.ack', v: 3, stage: string, done: number[], inbox: number, nack?: Nack[] }
/** A lifecycle or custom event for the given stages (all when absent). */
export type EventMessage = { type: 'pipe.event', v: 3, name: string, stages?: string[], args?: unknown }
/** Request: the peer's stages as it runs them. */
export type StatusRequest = { type: 'pipe.status', v: 3 }
export type StatusReply = { type: 'pipe.status.reply', v: 3, stages: LocalStageStatus[] }

/** One stage on the answering peer. */
export type LocalStageStatus = StagePeerStatus & { stage: string }

export type PipeMessage = PushMessage | AckMessage | EventMessage
/** What a peer sends. */
export type PipeWireMessage = PushWire | AckMessage | EventMessage

const bad = (what: string): PmzError => new PmzError('ERR_BAD_REQUEST', `pipe message: bad ${what}`)
const isStr = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024
const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
const strings = (x: unknown, what: string): string[] => {
  if (!Array.isArray(x) || !x.every(isStr)) throw bad(what)
  return x
}
const nacks = (x: unknown): Nack[] => {
  if (!Array.isArray(x)) throw bad('nacks')
  return x.map(n => {
    if (n === null || typeof n !== 'object' || !isNat((n as Nack).batch)) throw bad('nack')
    const ids = (n as Nack).ids
    return { batch: (n as Nack).batch, ...(ids !== undefined ? { ids: strings(ids, 'nack ids') } : {}) }
  })
}

/** String values only (a loop: no array of the values per packet). */
function isHeaders (h: unknown): boolean {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return false
  for (const k in h) if (Object.hasOwn(h, k) && typeof (h as Record<string, unknown>)[k] !== 'string') return false
  return true
}

/** A packet that arrived: every field checked. Throws ERR_BAD_REQUEST. */
export function checkPacket (p: unknown): Packet {
  if (p === null || typeof p !== 'object') throw bad('packet')
  const o = p as Record<string, unknown>
  if (!isStr(o.id) || !isStr(o.tag)) throw bad('packet id or tag')
  if (o.key !== undefined && typeof o.key !== 'string') throw bad('packet key')
  if (!Number.isInteger(o.priority) || (o.priority as number) < MIN_PRIORITY || (o.priority as number) > MAX_PRIORITY) throw bad('packet priority')
  if (o.ref !== undefined && !isStr(o.ref)) throw bad('packet ref')
  if (!isHeaders(o.headers)) throw bad('packet headers')
  if (typeof o.bornAt !== 'number' || !Number.isFinite(o.bornAt)) throw bad('packet bornAt')
  return o as unknown as Packet
}

/** A pipe.push, pipe.ack or pipe.event that arrived, checked. Throws ERR_BAD_REQUEST. */
export function parsePipeMessage (msg: unknown): PipeMessage {
  if (msg === null || typeof msg !== 'object') throw bad('message')
  const m = msg as Record<string, unknown>
  if (m.v !== PIPE_WIRE_VERSION) throw new PmzError('ERR_BAD_REQUEST', `unsupported ${String(m.type)} version`, { details: { v: m.v } })
  switch (m.type) {
    case 'pipe.push':
    {
      if (!isStr(m.stage) || !isNat(m.batch)) throw bad('push')
      const packets = packetsFromColumns(checkPacketColumns(m.cols))
      if (m.again !== undefined && (!Array.isArray(m.again) || !m.again.every(i => isNat(i) && i < packets.length))) throw bad('push again')
      return { type: 'pipe.push', v: 3, stage: m.stage, batch: m.batch, packets, ...(m.again !== undefined ? { again: m.again as number[] } : {}) }
    }
    case 'pipe.ack':
      if (!isStr(m.stage) || !isNat(m.inbox) || !Array.isArray(m.done) || !m.done.every(isNat)) throw bad('ack')
      return { type: 'pipe.ack', v: 3, stage: m.stage, done: m.done, inbox: m.inbox, ...(m.nack !== undefined ? { nack: nacks(m.nack) } : {}) }
    case 'pipe.event':
      if (!isStr(m.name)) throw bad('event name')
      return { type: 'pipe.event', v: 3, name: m.name, ...(m.stages !== undefined ? { stages: strings(m.stages, 'event stages') } : {}), ...(m.args !== undefined ? { args: m.args } : {}) }
    default:
      throw bad('type')
  }
}

/** A status reply, checked enough to show (the fields the status table reads). */
export function checkStatusReply (msg: unknown): LocalStageStatus[] {
  const m = msg as Record<string, unknown> | null
  if (m === null || typeof m !== 'object' || m.v !== PIPE_WIRE_VERSION || !Array.isArray(m.stages)) throw bad('status reply')
  for (const s of m.stages as Array<Record<string, unknown>>) {
    if (s === null || typeof s !== 'object' || !isStr(s.stage) || !isStr(s.peerId) || !isNat(s.inbox) || !isNat(s.instances)) throw bad('status reply stage')
  }
  return m.stages as LocalStageStatus[]
}
