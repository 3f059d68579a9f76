import type { Clock } from '../common/clock.js'
import { PmzError, isPmzError } from '../common/errors.js'
import type { Transport } from '../mesh/transport/types.js'
import { isLearner, isVoter, type ConfigChange } from './cluster-config.js'
import { noCoordinator, notLeader } from './errors.js'
import { checkReply, type ProposeReply, type ProposeRequest, type ReadIndexReply, type ReadIndexRequest } from './messages.js'
import type { Proposal, ProposalTracker } from './proposals.js'
import type { RaftNode } from './raft-node.js'
import type { Waiters } from './waiters.js'

/** Time a leader keeps for itself out of a forwarded deadline, so its answer still reaches the follower, ms. */
export const FORWARD_MARGIN_MS = 50
/** Forwarding attempts after a "not the leader" answer. */
const MAX_FORWARDS = 4

export type Submission = { command: Uint8Array, change?: undefined } | { change: ConfigChange, command?: undefined }

export interface ProposerContext {
  node: RaftNode
  transport: Transport
  clock: Clock
  waiters: Waiters
  proposals: ProposalTracker
  isRunning: () => boolean
}

/**
 * Gets commands and membership changes into the log: batched on the leader
 * (all commands proposed in one event-loop turn share one log write and one
 * AppendEntries), forwarded to the leader from anywhere else.
 */
export class Proposer {
  private batch: Array<{ data: Uint8Array, deadline: number, resolve: (p: Promise<Proposal<unknown>>) => void }> = []

  constructor (private readonly c: ProposerContext) {}

  /** Runs a command or change here when leader, else at the leader (again when it turned out not to be one), until `deadline`. */
  async submit (s: Submission, deadline: number, forward: boolean): Promise<Proposal<unknown>> {
    const { node, clock } = this.c
    for (let attempt = 0; ; attempt++) {
      if (clock.monotonic() >= deadline) throw noCoordinator('no coordinator before the deadline')
      if (node.role === 'leader') {
        try {
          return s.command !== undefined ? await this.appendLocal(s.command, deadline) : await this.changeLocal(s.change, deadline)
        } catch (err) {
          // Lost leadership before appending: nothing was written, so going to the new leader is safe.
          if (!(forward && isNotLeader(err))) throw err
          continue
        }
      }
      const address = await this.leaderAddress(deadline, forward)
      if (address === this.c.transport.address()) {
        await this.c.waiters.until(() => node.role === 'leader' || node.leaderAddress !== address || undefined, deadline, () => noCoordinator('no coordinator before the deadline'))
        continue
      }
      const timeoutMs = Math.max(0, Math.floor(deadline - clock.monotonic() - FORWARD_MARGIN_MS))
      try {
        const reply = checkReply(await this.forward(address, { type: 'raft.propose', v: 1, ...s, timeoutMs }, deadline), 'raft.propose') as ProposeReply
        return { index: reply.index, term: reply.term, result: reply.result }
      } catch (err) {
        // Only a "not the leader" answer proves nothing was appended; wait for news of the leader and go again.
        if (!isNotLeader(err) || attempt >= MAX_FORWARDS) throw err
        await this.c.waiters.until(() => node.leaderAddress !== address || undefined, deadline, () => err as Error)
      }
    }
  }

  /** Sends a request to the leader; no answer in time is ERR_NO_COORDINATOR (outcome unknown). */
  async forward (address: string, msg: ProposeRequest | ReadIndexRequest, deadline: number): Promise<ProposeReply | ReadIndexReply> {
    const timeoutMs = deadline - this.c.clock.monotonic()
    if (timeoutMs <= 0) throw noCoordinator('no coordinator before the deadline')
    try {
      return (await this.c.transport.request(address, msg, { timeoutMs })).msg as unknown as ProposeReply | ReadIndexReply
    } catch (err) {
      if (isPmzError(err) && ['ERR_TIMEOUT', 'ERR_UNAVAILABLE', 'ERR_SHUTTING_DOWN'].includes(err.code)) {
        throw noCoordinator('the coordinator did not answer', { leader: this.c.node.leaderId, address, outcome: 'unknown' })
      }
      throw err
    }
  }

  /** The leader's address once one is known (possibly this peer); with forwarding off, a rejection naming it. */
  async leaderAddress (deadline: number, forward: boolean): Promise<string> {
    if (!forward) throw notLeader(this.c.node)
    return await this.c.waiters.until(() => this.c.node.leaderAddress, deadline, () => noCoordinator('no coordinator elected before the deadline'))
  }

  /** The leader's side of a forwarded proposal. */
  async serve (msg: ProposeRequest): Promise<ProposeReply> {
    if (this.c.node.role !== 'leader') throw notLeader(this.c.node)
    const s: Submission = msg.change !== undefined ? { change: msg.change } : { command: msg.command as Uint8Array }
    const p = await this.submit(s, this.c.clock.monotonic() + msg.timeoutMs, false)
    return { type: 'raft.propose.reply', v: 1, index: p.index, term: p.term, result: p.result }
  }

  /** Fails what is queued for the next batch (on stop). */
  rejectQueued (err: Error): void {
    for (const b of this.batch) b.resolve(Promise.reject(err))
    this.batch = []
  }

  private async appendLocal (data: Uint8Array, deadline: number): Promise<Proposal<unknown>> {
    const p = await new Promise<Promise<Proposal<unknown>>>(resolve => {
      // At the end of the event-loop turn: the commands proposed by every callback of the turn share one log write (one fsync).
      if (this.batch.push({ data, deadline, resolve }) === 1) setImmediate(() => this.flush())
    })
    return await p
  }

  private flush (): void {
    const batch = this.batch
    this.batch = []
    if (batch.length === 0) return
    const node = this.c.node
    if (!this.c.isRunning() || node.role !== 'leader') {
      const err = this.c.isRunning() ? notLeader(node) : new PmzError('ERR_SHUTTING_DOWN', 'coordinator stopped')
      for (const b of batch) b.resolve(Promise.reject(err))
      return
    }
    // Registered before appending: a sole voter commits and applies inside appendCommands.
    const first = node.log.lastIndex + 1
    const promises = this.c.proposals.track(first, batch.length, node.term, Math.max(...batch.map(b => b.deadline)))
    batch.forEach((b, i) => b.resolve(promises[i]))
    try {
      node.appendCommands(batch.map(b => b.data))
    } catch (err) {
      this.c.proposals.forget(first, batch.length, err as Error)
    }
  }

  /** Leader side of a change: a new voter joins as a learner and is promoted once it has caught up (thesis §4.2.1). */
  private async changeLocal (change: ConfigChange, deadline: number): Promise<Proposal<unknown>> {
    const node = this.c.node
    const timeout = (what: string) => () => new PmzError('ERR_TIMEOUT', `${what} before the deadline`, { details: { ...change } })
    const leaderCheck = (): true => {
      if (node.role !== 'leader') throw notLeader(node)
      return true
    }
    if (change.op === 'addVoter' && !isVoter(node.config, change.peerId)) {
      if (!isLearner(node.config, change.peerId)) await this.changeLocal({ ...change, op: 'addLearner' }, deadline)
      await this.c.waiters.until(() => leaderCheck() && (node.replicator?.matchOf(change.peerId) ?? 0) >= node.commitIndex ? true : undefined,
        deadline, timeout('the new voter did not catch up'))
    }
    await this.c.waiters.until(() => leaderCheck() && node.configIndex <= node.commitIndex && node.commitIndex >= node.termStartIndex ? true : undefined,
      deadline, timeout('an earlier configuration change did not commit'))
    // Tracked before appending, as commands are: a sole voter commits inside changeConfig.
    const index = node.log.lastIndex + 1
    const [tracked] = this.c.proposals.track(index, 1, node.term, deadline)
    tracked.catch(() => {}) // settled below when nothing gets appended
    let at: { index: number, term: number } | undefined
    try {
      at = node.changeConfig(change)
    } catch (err) {
      this.c.proposals.forget(index, 1, err as Error)
      throw err
    }
    if (at === undefined) {
      this.c.proposals.forget(index, 1, new PmzError('ERR_INTERNAL', 'no change'))
      return { index: node.configIndex, term: node.term, result: undefined }
    }
    return await tracked
  }
}

const isNotLeader = (err: unknown): boolean => isPmzError(err, 'ERR_NO_COORDINATOR') && err.details?.notLeader === true
