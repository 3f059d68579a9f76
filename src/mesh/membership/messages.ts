import type { Message } from '../transport/types.js'
import { SWIM_VERSION } from './constants.js'
import type { MemberMeta, MemberState } from './types.js'

/**
 * What one message says about one member. Alive updates carry the meta;
 * suspect and dead ones name the peer that suspected or declared (`from`,
 * Lifeguard counts distinct suspecters as confirmations).
 */
export interface WireMember {
  peerId: string
  address: string
  state: MemberState
  incarnation: number
  meta?: MemberMeta
  from?: string
}

// Type aliases, not interfaces, so that messages are assignable to the transport's indexed Message.
type Envelope = { v: number, cluster: string }
type Gossiping = Envelope & { updates: WireMember[] }

/** SWIM 4.1: a direct probe; `target` is the peer id expected at the address (a restarted other peer ignores it). */
export type PingMessage = Gossiping & { type: 'swim.ping', seq: number, target: string }
/** Answer to a ping, from the target itself or relayed by an indirect prober (same `seq`). */
export type AckMessage = Gossiping & { type: 'swim.ack', seq: number }
/** Lifeguard: an indirect prober could not reach the target either (so the asker is not the slow one). */
export type NackMessage = Gossiping & { type: 'swim.nack', seq: number }
/** SWIM 4.2: asks a peer to ping `target` at `targetAddress` and relay the ack; a nack after `timeoutMs`. */
export type PingReqMessage = Gossiping & { type: 'swim.ping-req', seq: number, target: string, targetAddress: string, timeoutMs: number }
/** A gossip round's batch of updates. */
export type GossipMessage = Gossiping & { type: 'swim.gossip' }
/** Push-pull: the sender's full state; `join` when it is joining. Answered with {@link SyncReplyMessage}. */
export type SyncMessage = Envelope & { type: 'swim.sync', join: boolean, members: WireMember[] }
export type SyncReplyMessage = Envelope & { type: 'swim.sync-reply', members: WireMember[] }

export type SwimMessage = PingMessage | AckMessage | NackMessage | PingReqMessage | GossipMessage | SyncMessage | SyncReplyMessage

/** A checked message, or why it was refused: `foreign` when it belongs to another cluster. */
export type Parsed =
  | { ok: true, msg: SwimMessage }
  | { ok: false, foreign: true, cluster: string }
  | { ok: false, foreign: false, reason: string }

const STATES: ReadonlySet<string> = new Set(['alive', 'suspect', 'dead', 'left'])

const isStr = (x: unknown): x is string => typeof x === 'string'
const isUint = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function isMeta (x: unknown): x is MemberMeta {
  return isObj(x) && isStr(x.http) && Array.isArray(x.roles) && x.roles.every(isStr)
}

function isWireMember (x: unknown): x is WireMember {
  if (!isObj(x)) return false
  return isStr(x.peerId) && x.peerId !== '' && isStr(x.address) && isStr(x.state) && STATES.has(x.state) &&
    isUint(x.incarnation) && (x.meta === undefined || isMeta(x.meta)) && (x.from === undefined || isStr(x.from))
}

function isMemberList (x: unknown): x is WireMember[] {
  return Array.isArray(x) && x.every(isWireMember)
}

/** Checks a message of the membership protocol; never throws. */
export function parseSwimMessage (msg: Message, cluster: string): Parsed {
  const m = msg as Record<string, unknown>
  const bad = (reason: string): Parsed => ({ ok: false, foreign: false, reason })
  if (m.v !== SWIM_VERSION) return bad(`unsupported version ${String(m.v)}`)
  if (!isStr(m.cluster)) return bad('missing cluster')
  if (m.cluster !== cluster) return { ok: false, foreign: true, cluster: m.cluster }
  switch (m.type) {
    case 'swim.ping':
      if (!isUint(m.seq) || !isStr(m.target)) return bad('bad ping')
      break
    case 'swim.ack':
    case 'swim.nack':
      if (!isUint(m.seq)) return bad(`bad ${m.type}`)
      break
    case 'swim.ping-req':
      if (!isUint(m.seq) || !isStr(m.target) || !isStr(m.targetAddress) || !isUint(m.timeoutMs)) return bad('bad ping-req')
      break
    case 'swim.gossip':
      break
    case 'swim.sync':
      if (typeof m.join !== 'boolean' || !isMemberList(m.members)) return bad('bad sync')
      return { ok: true, msg: msg as SyncMessage }
    case 'swim.sync-reply':
      if (!isMemberList(m.members)) return bad('bad sync reply')
      return { ok: true, msg: msg as SyncReplyMessage }
    default:
      return bad(`unknown type ${String(m.type)}`)
  }
  if (!isMemberList(m.updates)) return bad('bad updates')
  return { ok: true, msg: msg as SwimMessage }
}
