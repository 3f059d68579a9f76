import type { Startable } from '../../common/startable.js'

/** SWIM states of a member. `left` is a graceful leave; `dead` a failure confirmed by suspicion timeout. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

/** What a peer says about itself; gossiped with its incarnation. */
export interface MemberMeta {
  /** `http://host:port` of its gateway ('' when it has none). */
  http: string
  /** Its roles: volume, worker, gateway, coordinator. */
  roles: string[]
  /** Free-form facts others may use (percent of disk used, capacity, versions); small. */
  [field: string]: unknown
}

export interface Member {
  peerId: string
  /** `host:port` of its mesh ROUTER. */
  address: string
  state: MemberState
  /** SWIM incarnation: only the member itself raises it, to refute a suspicion or publish new meta. */
  incarnation: number
  meta: MemberMeta
  /** When this peer last heard from it directly or through gossip (ms since epoch); null for self. */
  lastHeard: number | null
}

/** A change of one member, as it happens. */
export interface MembershipEvent {
  type: 'join' | 'suspect' | 'alive' | 'dead' | 'leave' | 'update'
  member: Member
}

/**
 * SWIM membership: who is in the cluster and in which state. Discovery only
 * proposes addresses (`join`); membership decides.
 */
export interface Membership extends Startable {
  readonly peerId: string
  /** This peer as others see it. */
  self(): Member
  /** Every member known, self included, dead and left ones until they are forgotten. */
  members(): Member[]
  /** Members in state alive or suspect, self included. */
  alive(): Member[]
  get(peerId: string): Member | undefined
  /** Contacts these mesh addresses (from discovery or --join) and merges their views; unreachable ones are ignored. */
  join(addresses: string[]): void
  /** Publishes new meta (raises the incarnation so it spreads). */
  updateMeta(meta: Partial<MemberMeta>): void
  on(event: 'peer:change', fn: (e: MembershipEvent) => void): () => void
}
