import type { MemberState } from '../mesh/membership/types.js'
import { shouldBootstrap, type BootstrapPolicy } from './bootstrap-rules.js'
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
  /** Quiet period of a discovering peer before it bootstraps a new cluster, ms. @default BOOTSTRAP_DELAY_MS */
  bootstrapDelayMs?: number
  /** Coordinator-role peers to see before the lowest bootstraps (see bootstrap-rules.ts); 1 = join/discovery rules. @default 1 */
  bootstrapExpect?: number
  /** This peer has a static join list: with bootstrapExpect 1 it never bootstraps, it is added. @default false */
  joins?: boolean
  /** mDNS or broadcast may bring peers not known yet, so bootstrap waits for a quiet period. @default true */
  discovers?: boolean
}

/** What membership says about one peer (a Member, reduced). */
export interface MemberView {
  peerId: string
  address: string
  state: MemberState
  roles: string[]
  /** The peer already belongs to a coordinator cluster (its log is not empty): never bootstrap beside it. */
  clustered?: boolean
  /** The peer may bootstrap a cluster itself (false: it waits to be added). @default true */
  bootstrapper?: boolean
}

interface Known extends MemberView { deadSince: number | undefined }

/**
 * Policy for growing the voter set of a cluster whose peers find each other
 * (pure: no I/O, time passed in). Bootstrap: at most one peer writes a
 * one-voter configuration, by the rules of bootstrap-rules.ts. Growth, on the leader, one change at a
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
  readonly policy: BootstrapPolicy
  /** When a live candidate last appeared (or the start). */
  private changedAt: number

  constructor (private readonly init: VoterManagerInit, startedAt: number) {
    this.role = init.role ?? 'coordinator'
    this.maxVoters = init.maxVoters ?? MAX_VOTERS
    this.graceMs = init.deadGraceMs ?? DEAD_VOTER_GRACE_MS
    this.policy = {
      expect: init.bootstrapExpect ?? 1,
      joins: init.joins ?? false,
      discovers: init.discovers ?? true,
      quietMs: init.bootstrapDelayMs ?? BOOTSTRAP_DELAY_MS
    }
    this.changedAt = startedAt
  }

  /** Feeds one membership fact (an event, or each member at start). */
  observe (m: MemberView, now: number): void {
    const gone = m.state === 'dead' || m.state === 'left'
    const before = this.members.get(m.peerId)
    const wasCandidate = before !== undefined && this.isCandidate(before)
    this.members.set(m.peerId, { ...m, deadSince: gone ? (before?.deadSince ?? now) : undefined })
    this.unseenSince.delete(m.peerId)
    if (!wasCandidate && this.isCandidate(m)) this.changedAt = now // a newcomer restarts the quiet period
  }

  /** Whether this peer should bootstrap now, given whether its own raft log is empty. */
  shouldBootstrap (now: number, hasLog: boolean): boolean {
    return shouldBootstrap(this.policy, { selfId: this.init.selfId, now, changedAt: this.changedAt, hasLog, candidates: this.liveCandidates() })
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
    return [...this.members.values()].filter(m => this.isCandidate(m)).sort((a, b) => a.peerId < b.peerId ? -1 : 1)
  }

  private isCandidate (m: MemberView): boolean {
    return m.peerId !== this.init.selfId && m.state === 'alive' && m.roles.includes(this.role)
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
