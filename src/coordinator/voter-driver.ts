import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { Member, Membership } from '../mesh/membership/types.js'
import { mayBootstrap } from './bootstrap-rules.js'
import type { Coordinator } from './types.js'
import { VoterManager, type MemberView, type VoterManagerInit } from './voter-manager.js'

/** Interval at which the driver reconsiders bootstrap and voter changes, ms. */
const VOTER_CHECK_MS = 1_000
/** How long a peer may wait without a log before it says why, ms. */
const WAIT_WARN_MS = 15_000

export interface VoterDriverComponents {
  coordinator: Coordinator<unknown, unknown>
  membership: Membership
  clock: Clock
  log: Logger
}

export const toMemberView = (m: Member): MemberView => ({
  peerId: m.peerId,
  address: m.address,
  state: m.state,
  roles: m.meta.roles,
  clustered: typeof m.meta.coordinatorTerm === 'number' && m.meta.coordinatorTerm > 0,
  bootstrapper: m.meta.coordinatorBootstrap !== false
})

/**
 * Hooks a {@link VoterManager} to membership and the coordinator: feeds it
 * member events, publishes `coordinatorTerm` in this peer's meta (so others
 * know a cluster exists) and `coordinatorBootstrap` (whether it may start
 * one), bootstraps when told to, and on the leader applies one change at a
 * time.
 */
export class VoterDriver implements Startable {
  private readonly manager: VoterManager
  private timer: Timer | undefined
  private pending: Timer | undefined
  private offs: Array<() => void> = []
  private busy = false
  private readonly startedAt: number
  private warned = false

  constructor (private readonly c: VoterDriverComponents, init: Omit<VoterManagerInit, 'selfId'> = {}) {
    this.startedAt = c.clock.monotonic()
    this.manager = new VoterManager({ ...init, selfId: c.coordinator.peerId }, this.startedAt)
  }

  async start (): Promise<void> {
    if (this.timer !== undefined) return
    const now = (): number => this.c.clock.monotonic()
    for (const m of this.c.membership.members()) this.manager.observe(toMemberView(m), now())
    const term = this.c.coordinator.term()
    this.c.membership.updateMeta({ coordinatorBootstrap: mayBootstrap(this.manager.policy), ...(term > 0 ? { coordinatorTerm: term } : {}) })
    this.offs.push(this.c.membership.on('peer:change', e => {
      this.manager.observe(toMemberView(e.member), now())
      if (e.type === 'join' || e.type === 'alive') this.soon() // a newcomer is added without waiting for the next tick
    }))
    this.offs.push(this.c.coordinator.on('leader:change', e => {
      if (e.leader !== undefined) this.c.membership.updateMeta({ coordinatorTerm: e.leader.term })
      if (e.leader?.peerId === this.c.coordinator.peerId) this.soon()
    }))
    this.timer = this.c.clock.setInterval(() => this.check(), VOTER_CHECK_MS)
    this.check() // a lone peer or a static seed bootstraps at once
  }

  async stop (): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    this.pending?.cancel()
    this.pending = undefined
    for (const off of this.offs) off()
    this.offs = []
  }

  /** A check on the next turn, outside the event or callback that asks for it (once, however often asked). */
  private soon (): void {
    if (this.timer === undefined || this.pending !== undefined) return
    this.pending = this.c.clock.setTimeout(() => {
      this.pending = undefined
      this.check()
    }, 0)
  }

  private check (): void {
    const co = this.c.coordinator
    const status = co.status()
    const now = this.c.clock.monotonic()
    const hasLog = status.lastIndex > 0 || status.term > 0
    if (this.manager.shouldBootstrap(now, hasLog)) {
      if (co.bootstrap()) this.c.log.info({ policy: this.manager.policy }, 'bootstrapped a new coordinator cluster')
      return
    }
    if (!hasLog && !this.warned && now - this.startedAt >= WAIT_WARN_MS) {
      this.warned = true
      this.c.log.warn({ policy: this.manager.policy },
        'no coordinator cluster has added this peer yet: it waits for one (a peer with --join never starts one; see [coordinator] bootstrap_expect)')
    }
    if (!co.isLeader() || this.busy) return
    const change = this.manager.nextChange(now, co.config())
    if (change === undefined) return
    this.busy = true
    const done = change.op === 'removeVoter'
      ? co.removeVoter(change.peerId, { forward: false })
      : change.op === 'addVoter' ? co.addVoter(change.peerId, change.address, { forward: false }) : co.addLearner(change.peerId, change.address, { forward: false })
    done.then(
      () => {
        this.c.log.info({ ...change }, 'coordinator membership changed')
        this.busy = false
        this.soon() // the next change, if any, at once
      },
      err => {
        this.c.log.warn({ err, ...change }, 'coordinator membership change failed')
        this.busy = false
      }
    )
  }
}
