import type { Clock } from '../../common/clock.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership, MembershipEvent } from '../../mesh/membership/index.js'
import type { Placement } from './placement.js'
import { settledBefore } from './anti-entropy-exchange.js'
import { DeadPeers } from './rebalance.js'

export interface RingConfirmationsComponents {
  placement: Placement
  membership: Membership
  clock: Clock
  log: Logger
}

/**
 * Which replicas are confirmed in sync for the current ring.
 *
 * A peer is confirmed when a digest exchange with it compared equal for the
 * current ring fingerprint (both sides record it). A volume peer dead past
 * the grace period is taken off the ring, and a ring change resets every
 * confirmation: each was for the old ring.
 */
export class RingConfirmations {
  private readonly dead: DeadPeers
  /** Peer id -> the ring fingerprint it was last confirmed in sync for, from when its changes were not compared (ms, local clock), and when that was. */
  private readonly synced = new Map<string, { ring: string, cleanFrom: number, at: number }>()
  /** Bumped whenever `synced` or a member's state changes: settled() is recomputed only then (it is asked on every request). */
  private epoch = 0
  private settledMemo: { ring: string, epoch: number, value: boolean } | undefined
  private current = ''
  /** When this peer took the current ring (ms since the epoch); 0 for the ring it started with. */
  private since = 0
  private excludedSig = ''
  private removed: string[] = []

  constructor (private readonly c: RingConfirmationsComponents, deadGraceMs: number) {
    this.dead = new DeadPeers(c.membership, c.clock, deadGraceMs)
  }

  /** The ring fingerprint confirmations count for (as of the last checkRing()). */
  get ring (): string {
    return this.current
  }

  /** The volume peers taken off the ring for being dead past the grace, sorted. */
  get removedDead (): string[] {
    return this.removed
  }

  /** Takes the current ring as the one confirmations count for, without noting a change. */
  start (): void {
    this.current = this.c.placement.fingerprint()
  }

  /**
   * Whether this peer has compared equal with every live peer of the ring
   * since the ring last changed. Until then a replica may lack keys it now
   * owns (a peer that joined, one back from the dead whose hints are still
   * on their way), and a quorum of R answers is not enough to call a key
   * absent: readers ask every replica.
   */
  settled (): boolean {
    if (this.c.placement.selfOnly()) return true
    const ring = this.c.placement.fingerprint()
    if (ring !== this.current) return false
    const memo = this.settledMemo
    if (memo !== undefined && memo.ring === ring && memo.epoch === this.epoch) return memo.value
    const value = this.c.placement.peerIds().every(p => !this.isAlive(p) || this.confirmed(p))
    this.settledMemo = { ring, epoch: this.epoch, value }
    return value
  }

  /** Records that `peerId` compared equal for `ring` (changes from `cleanFrom` on not compared), or (undefined) that it is not confirmed. */
  markSynced (peerId: string, ring: string | undefined, cleanFrom = 0): void {
    if (ring === undefined) this.synced.delete(peerId)
    else this.synced.set(peerId, { ring, cleanFrom, at: this.c.clock.now() })
    this.epoch++
  }

  /** For a confirmed peer, from when changes were not part of its last comparison and when that comparison was; undefined when not confirmed. */
  lastSync (peerId: string): { cleanFrom: number, at: number } | undefined {
    return this.confirmed(peerId) ? this.synced.get(peerId) : undefined
  }

  /** Membership bookkeeping: dead-peer timing, and a peer that is dead, suspect or gone is no longer confirmed. */
  onPeerChange (e: MembershipEvent): void {
    this.dead.onChange(e)
    this.epoch++
    if (e.type === 'dead' || e.type === 'suspect' || e.type === 'leave') this.synced.delete(e.member.peerId)
  }

  /**
   * Takes peers dead past the grace off the ring; notes a ring change (every
   * confirmation is for the old ring). Returns true when the ring changed.
   */
  checkRing (): boolean {
    const expired = this.dead.expired()
    const sig = [...expired].sort().join(',')
    if (sig !== this.excludedSig) {
      this.excludedSig = sig
      this.removed = [...expired].sort()
      if (expired.size > 0) this.c.log.info({ peers: this.removed, graceMs: this.dead.graceMs }, 'dead volume peers leave the ring')
      this.c.placement.exclude(expired)
    }
    const ring = this.c.placement.fingerprint()
    if (ring === this.current) return false
    this.current = ring
    this.since = this.c.clock.now()
    return true
  }

  /**
   * The versions a digest exchange compares for the current ring: those
   * older than `settleMs` (younger ones are the write path's business), but
   * at least every version written up to `settleMs` after this peer took the
   * ring. A value written just before a ring change went only to the old
   * owners, whatever its age: leaving it out would confirm a new owner that
   * lacks it, and reads would then ask too few replicas.
   */
  cutoff (now: number, settleMs: number): HlcTimestamp {
    return settledBefore(Math.max(now, this.since + 2 * settleMs), settleMs)
  }

  /** Whether an exchange that compared the versions older than `until` covers what this peer's ring requires (see cutoff). */
  covers (until: HlcTimestamp, settleMs: number): boolean {
    return until >= settledBefore(this.since + 2 * settleMs, settleMs)
  }

  /** The volume peers of the ring confirmed in sync for it (self included). */
  inSync (): string[] {
    return this.c.placement.peerIds().filter(p => this.confirmed(p))
  }

  confirmed (peerId: string): boolean {
    if (peerId === this.c.membership.peerId) return true
    const m = this.c.membership.get(peerId)
    return this.synced.get(peerId)?.ring === this.current && m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }

  isAlive (peerId: string): boolean {
    const m = this.c.membership.get(peerId)
    return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
  }
}
