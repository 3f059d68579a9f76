import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { Member, Membership } from '../mesh/membership/types.js'
import type { Coordinator } from './types.js'
import { VoterManager, type MemberView, type VoterManagerInit } from './voter-manager.js'

/** Interval at which the driver reconsiders bootstrap and voter changes, ms. */
const VOTER_CHECK_MS = 1_000

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
  clustered: typeof m.meta.coordinatorTerm === 'number' && m.meta.coordinatorTerm > 0
})

/**
 * Hooks a {@link VoterManager} to membership and the coordinator: feeds it
 * member events, publishes `coordinatorTerm` in this peer's meta (so others
 * know a cluster exists), bootstraps when told to, and on the leader applies
 * one change at a time.
 */
export class VoterDriver implements Startable {
  private readonly manager: VoterManager
  private timer: Timer | undefined
  private offs: Array<() => void> = []
  private busy = false

  constructor (private readonly c: VoterDriverComponents, init: Omit<VoterManagerInit, 'selfId'> = {}) {
    this.manager = new VoterManager({ ...init, selfId: c.coordinator.peerId }, c.clock.monotonic())
  }

  async start (): Promise<void> {
    if (this.timer !== undefined) return
    const now = (): number => this.c.clock.monotonic()
    for (const m of this.c.membership.members()) this.manager.observe(toMemberView(m), now())
    this.offs.push(this.c.membership.on('peer:change', e => this.manager.observe(toMemberView(e.member), now())))
    this.offs.push(this.c.coordinator.on('leader:change', e => {
      if (e.leader !== undefined) this.c.membership.updateMeta({ coordinatorTerm: e.leader.term })
    }))
    this.timer = this.c.clock.setInterval(() => this.check(), VOTER_CHECK_MS)
  }

  async stop (): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    for (const off of this.offs) off()
    this.offs = []
  }

  private check (): void {
    const co = this.c.coordinator
    const status = co.status()
    const now = this.c.clock.monotonic()
    if (this.manager.shouldBootstrap(now, status.lastIndex > 0 || status.term > 0)) {
      if (co.bootstrap()) this.c.log.info({}, 'bootstrapped a new coordinator cluster')
      return
    }
    if (!co.isLeader() || this.busy) return
    const change = this.manager.nextChange(now, co.config())
    if (change === undefined) return
    this.busy = true
    const done = change.op === 'removeVoter'
      ? co.removeVoter(change.peerId, { forward: false })
      : change.op === 'addVoter' ? co.addVoter(change.peerId, change.address, { forward: false }) : co.addLearner(change.peerId, change.address, { forward: false })
    done.then(
      () => this.c.log.info({ ...change }, 'coordinator membership changed'),
      err => this.c.log.warn({ err, ...change }, 'coordinator membership change failed')
    ).finally(() => { this.busy = false })
  }
}
