import type { MemberState } from '../mesh/membership/types.js'
import type { ConfigChange } from './cluster-config.js'
import { BOOTSTRAP_DELAY_MS, DEAD_VOTER_GRACE_MS, MAX_VOTERS } from './constants.js'
import type { ClusterConfig } from './entry.js'

export interface VoterManagerInit {
  /** This peer. */
  selfId: string
  /** Role a member needs to be a voter or learner. @default 'coordinator' */
  role?: string
  /** @default MAX_VOTERS */
  maxVoters?: number
  /** How long a voter or learner must be dead or gone before it is removed, ms. @default DEAD_VOTER_GRACE_MS */
  deadGraceMs?: number
  /** How long to watch membership before bootstrapping a new cluster, ms. @default BOOTSTRAP_DELAY_MS */
  bootstrapDelayMs?: number
}

/** What membership says about one peer (a Member, reduced). */
export interface MemberView {
  peerId: string
  address: string
  state: MemberState
  roles: string[]
  /** The peer already belongs to a coordinator cluster (its log is not empty): never bootstrap beside it. */
  clustered?: boolean
}

interface Known extends MemberView { deadSince: number | undefined }

/**
 * Policy for growing the voter set of a cluster whose peers find each other
 * (pure: no I/O, time passed in). Bootstrap: after a settling delay, the
 * coordinator-role peer with the lowest id bootstraps a one-voter cluster,
 * unless some peer is already in one. Growth, on the leader, one change at a
 * time: remove voters and learners dead for the grace period, add live
 * coordinator-role members as voters up to the maximum (learners first, as
 * they have the log), then the rest as learners.
 */
export class VoterManager {
  private readonly members = new Map<string, Known>()
  /** Voters or learners membership has not mentioned yet, since when. */
  private readonly unseenSince = new Map<string, number>()
  private readonly role: string
  private readonly maxVoters: number
  private readonly graceMs: number
  private readonly delayMs: number

  constructor (private readonly init: VoterManagerInit, private readonly startedAt: number) {
    this.role = init.role ?? 'coordinator'
    this.maxVoters = init.maxVoters ?? MAX_VOTERS
    this.graceMs = init.deadGraceMs ?? DEAD_VOTER_GRACE_MS
    this.delayMs = init.bootstrapDelayMs ?? BOOTSTRAP_DELAY_MS
  }

  /** Feeds one membership fact (an event, or each member at start). */
  observe (m: MemberView, now: number): void {
    const gone = m.state === 'dead' || m.state === 'left'
    const before = this.members.get(m.peerId)
    this.members.set(m.peerId, { ...m, deadSince: gone ? (before?.deadSince ?? now) : undefined })
    this.unseenSince.delete(m.peerId)
  }

  /** Whether this peer should bootstrap now, given whether its own raft log is empty. */
  shouldBootstrap (now: number, hasLog: boolean): boolean {
    if (hasLog || now - this.startedAt < this.delayMs) return false
    const live = this.liveCandidates()
    if (live.some(m => m.clustered === true)) return false
    return live.every(m => m.peerId >= this.init.selfId)
  }

  /** The next single-server change the leader should make, or undefined when the configuration is as wanted. */
  nextChange (now: number, config: ClusterConfig): ConfigChange | undefined {
    for (const id of [...Object.keys(config.voters).sort(), ...Object.keys(config.learners).sort()]) {
      if (id !== this.init.selfId && this.goneFor(id, now) >= this.graceMs) return { op: 'removeVoter', peerId: id }
    }
    const outside = this.liveCandidates().filter(m => !Object.hasOwn(config.voters, m.peerId))
    const learnersFirst = [...outside].sort((a, b) => Number(Object.hasOwn(config.learners, b.peerId)) - Number(Object.hasOwn(config.learners, a.peerId)))
    if (Object.keys(config.voters).length < this.maxVoters && learnersFirst.length > 0) {
      const m = learnersFirst[0]
      return { op: 'addVoter', peerId: m.peerId, address: m.address }
    }
    const newcomer = outside.find(m => !Object.hasOwn(config.learners, m.peerId))
    return newcomer === undefined ? undefined : { op: 'addLearner', peerId: newcomer.peerId, address: newcomer.address }
  }

  /** Alive coordinator-role members other than self, by id. */
  private liveCandidates (): Known[] {
    return [...this.members.values()]
      .filter(m => m.peerId !== this.init.selfId && m.state === 'alive' && m.roles.includes(this.role))
      .sort((a, b) => a.peerId < b.peerId ? -1 : 1)
  }

  private goneFor (peerId: string, now: number): number {
    const m = this.members.get(peerId)
    if (m === undefined) {
      if (!this.unseenSince.has(peerId)) this.unseenSince.set(peerId, now)
      return now - (this.unseenSince.get(peerId) as number)
    }
    return m.deadSince === undefined ? 0 : now - m.deadSince
  }
}
