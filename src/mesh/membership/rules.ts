// The pure protocol logic of SWIM membership: how an update about a member
// merges with what this peer holds, when this peer must refute, and the
// Lifeguard timeouts. No I/O, no clock: SwimMembership applies the effects.
import type { WireMember } from './messages.js'
import type { Member, MemberMeta, MemberState, MembershipEvent } from './types.js'

/** What this peer holds about a member. */
export interface MemberRecord extends Member {
  /** When its state last changed, ms since the epoch. */
  changedAt: number
}

export type EventType = MembershipEvent['type']

/** The effects of one update: the new record, the event to emit, whether to gossip it further. */
export interface MergeResult {
  /** The record after the update; absent when it changed nothing. */
  record?: MemberRecord
  event?: EventType
  /** The update was news: gossip it on. */
  rebroadcast: boolean
  /** A suspect update about a member already suspected: `confirm` names the suspecter (Lifeguard confirmation). */
  confirm?: string
  /** The update is current news of a live member: only its `lastHeard` moves. */
  heard?: boolean
}

const IGNORE: MergeResult = { rebroadcast: false }
const HEARD: MergeResult = { rebroadcast: false, heard: true }

export const isLive = (s: MemberState): boolean => s === 'alive' || s === 'suspect'

/**
 * Merges an update about another member (SWIM 4.2 ordering, as memberlist):
 * alive(i) overrides anything held at j iff i > j; suspect(i) overrides
 * alive(j) iff i >= j and suspect(j) iff i > j; dead(i) and left(i) override
 * alive or suspect(j) iff i >= j; dead and left are final for their
 * incarnation. Only an update that carries the meta introduces a member.
 * With `viaSync` (a full-state exchange), dead counts as suspect so that this
 * peer checks for itself before declaring anyone dead (memberlist).
 */
export function merge (cur: MemberRecord | undefined, u: WireMember, now: number, viaSync = false): MergeResult {
  const state: MemberState = viaSync && u.state === 'dead' ? 'suspect' : u.state
  if (cur === undefined) {
    if (!isLive(state) || u.meta === undefined) return IGNORE
    const record: MemberRecord = { peerId: u.peerId, address: u.address, state, incarnation: u.incarnation, meta: u.meta, lastHeard: now, changedAt: now }
    return { record, event: 'join', rebroadcast: true }
  }
  switch (state) {
    case 'alive': {
      if (u.incarnation <= cur.incarnation) return u.incarnation === cur.incarnation && isLive(cur.state) ? HEARD : IGNORE
      const meta = u.meta ?? cur.meta
      const event: EventType | undefined = !isLive(cur.state)
        ? 'join'
        : cur.state === 'suspect' ? 'alive' : !sameMeta(cur.meta, meta) || cur.address !== u.address ? 'update' : undefined
      const changedAt = cur.state === 'alive' ? cur.changedAt : now
      return { record: { ...cur, address: u.address, state, incarnation: u.incarnation, meta, lastHeard: now, changedAt }, event, rebroadcast: true }
    }
    case 'suspect':
      if (cur.state === 'alive' && u.incarnation >= cur.incarnation) {
        return { record: { ...cur, state, incarnation: u.incarnation, lastHeard: now, changedAt: now }, event: 'suspect', rebroadcast: true }
      }
      if (cur.state === 'suspect' && u.incarnation >= cur.incarnation) {
        return { record: { ...cur, incarnation: u.incarnation, lastHeard: now }, rebroadcast: false, confirm: u.from }
      }
      return IGNORE
    default:
      if (!isLive(cur.state) || u.incarnation < cur.incarnation) return IGNORE
      return { record: { ...cur, state, incarnation: u.incarnation, changedAt: now }, event: state === 'dead' ? 'dead' : 'leave', rebroadcast: true }
  }
}

/**
 * SWIM 4.2 refutation: the incarnation this peer must take so that its alive
 * update overrides what `u` says about it, or undefined when `u` needs no
 * answer. A restarted peer (incarnation reset to 0) learns here, from a join
 * reply or gossip, the incarnation others hold for it, and jumps above it.
 */
export function refutation (self: MemberRecord, u: WireMember, leaving: boolean): number | undefined {
  if (leaving) return undefined
  if (u.incarnation > self.incarnation) return u.incarnation + 1
  if (u.incarnation < self.incarnation) return undefined
  const differs = u.state !== 'alive' || u.address !== self.address || (u.meta !== undefined && !sameMeta(u.meta, self.meta))
  return differs ? self.incarnation + 1 : undefined
}

/** Shallow equality of two metas (values compared by their JSON). */
export function sameMeta (a: MemberMeta, b: MemberMeta): boolean {
  if (a === b) return true
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every(k => a[k] === b[k] || JSON.stringify(a[k]) === JSON.stringify(b[k]))
}

/** The wire form of a record; alive updates carry the meta, suspect and dead ones their author. */
export function toWire (r: MemberRecord, from?: string): WireMember {
  const w: WireMember = { peerId: r.peerId, address: r.address, state: r.state, incarnation: r.incarnation }
  if (r.state === 'alive') w.meta = r.meta
  else if (from !== undefined && r.state !== 'left') w.from = from
  return w
}

/** The full wire form, meta included whatever the state (push-pull). */
export function toFullWire (r: MemberRecord): WireMember {
  return { peerId: r.peerId, address: r.address, state: r.state, incarnation: r.incarnation, meta: r.meta }
}

/** A copy for callers (no internal fields). */
export function toMember (r: MemberRecord): Member {
  return { peerId: r.peerId, address: r.address, state: r.state, incarnation: r.incarnation, meta: r.meta, lastHeard: r.lastHeard }
}

/** Lifeguard's bounds of a suspicion among `n` live members: it starts at max and shrinks towards min. */
export function suspicionBounds (n: number, probeIntervalMs: number, mult: number, floorMs: number, maxMult: number): { minMs: number, maxMs: number } {
  const minMs = Math.max(floorMs, Math.round(mult * Math.max(1, Math.log10(n + 1)) * probeIntervalMs))
  return { minMs, maxMs: minMs * Math.max(1, maxMult) }
}

/** Independent confirmations a suspicion expects (memberlist: mult - 2, none when too few others could confirm). */
export function expectedConfirmations (n: number, mult: number): number {
  const k = mult - 2
  return n - 2 < k ? 0 : Math.max(0, k)
}

/** Lifeguard: timeout = max - (max - min) x log(c + 1) / log(k + 1), never below min. */
export function suspicionTimeout (minMs: number, maxMs: number, k: number, confirmations: number): number {
  if (k < 1) return minMs
  const frac = Math.log(confirmations + 1) / Math.log(k + 1)
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)))
}

/** Transmissions of each update: mult x ceil(log10(n + 1)) (memberlist), at least `min`. */
export function retransmitLimit (mult: number, n: number, min = 0): number {
  return Math.max(min, mult * Math.max(1, Math.ceil(Math.log10(n + 1))))
}

/** Push-pull interval: the base up to `threshold` members, then one more base per doubling (memberlist). */
export function pushPullIntervalMs (baseMs: number, n: number, threshold: number): number {
  if (n <= threshold) return baseMs
  return baseMs * (Math.ceil(Math.log2(n) - Math.log2(threshold)) + 1)
}
