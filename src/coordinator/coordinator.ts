import { EventEmitter } from 'node:events'
import { pack, unpack } from 'msgpackr'
import type { Clock } from '../common/clock.js'
import { PmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Message, Transport } from '../mesh/transport/types.js'
import type { ConfigChange } from './cluster-config.js'
import * as K from './constants.js'
import { emptyConfig, type ClusterConfig, type Entry, type Snapshot } from './entry.js'
import { noCoordinator, notLeader } from './errors.js'
import { LmdbRaftStorage } from './lmdb-raft-storage.js'
import { checkReply, checkRequest, snapshotFromWire, snapshotOnWire, type RaftRequest, type ProposeRequest, type ReadIndexReply, type ReadIndexRequest } from './messages.js'
import { ProposalTracker, type Proposal } from './proposals.js'
import { FORWARD_MARGIN_MS, Proposer } from './proposer.js'
import type { RaftHost } from './raft-host.js'
import { RaftNode, type Role } from './raft-node.js'
import type { RaftStorage } from './storage.js'
import type { AppliedEvent, Coordinator, CoordinatorComponents, CoordinatorInit, CoordinatorStatus, LeaderChangeEvent, LeaderInfo, ProposeOptions, StateMachine } from './types.js'
import { Waiters, withDeadline } from './waiters.js'

/**
 * The I/O around {@link RaftNode}: transport handlers and requests, the
 * state machine, batching and tracking of proposals, forwarding from
 * followers, events and lifecycle.
 */
export class RaftCoordinator<C, R> implements Coordinator<C, R> {
  readonly peerId: string
  private readonly transport: Transport
  private readonly clock: Clock
  private readonly log: Logger
  private readonly events = new EventEmitter()
  private readonly waiters: Waiters
  private readonly proposals: ProposalTracker
  private node!: RaftNode
  private storage: RaftStorage | undefined
  private proposer!: Proposer
  private unhandle: Array<() => void> = []
  private state: 'new' | 'running' | 'stopped' = 'new'
  private stopping: Promise<void> | undefined
  /** Leaders learned of since start (one per term that had one), and the last one, `term/peerId`. */
  private leaderChanges = 0
  private lastLeader = ''

  constructor (private readonly c: CoordinatorComponents, private readonly init: CoordinatorInit, private readonly machine: StateMachine<C, R>) {
    this.transport = c.transport
    this.clock = c.clock
    this.log = c.log
    this.peerId = init.peerId ?? c.transport.peerId
    this.waiters = new Waiters(c.clock)
    this.proposals = new ProposalTracker(c.clock)
  }

  async start (): Promise<void> {
    if (this.state !== 'new') return
    if (this.init.storage === undefined && this.init.dataDir === undefined) throw new PmzError('ERR_CONFIG_INVALID', 'coordinator needs storage or dataDir')
    this.storage = this.init.storage ?? new LmdbRaftStorage({ dir: this.init.dataDir as string, sync: this.init.sync })
    try {
      this.node = this.createNode(this.storage)
    } catch (err) {
      if (this.init.storage === undefined) await this.storage.close().catch(() => {})
      throw err
    }
    const node = this.node
    this.proposer = new Proposer({ node, transport: this.transport, clock: this.clock, waiters: this.waiters, proposals: this.proposals, isRunning: () => this.state === 'running' })
    this.unhandle = [
      this.transport.handle('raft.vote', req => node.handleVote(checkRequest(req.msg, 'raft.vote'), req.from)),
      this.transport.handle('raft.append', req => node.handleAppend(checkRequest(req.msg, 'raft.append'), req.from)),
      this.transport.handle('raft.snapshot', async req => node.handleSnapshot(await snapshotFromWire(checkRequest(req.msg, 'raft.snapshot'), req.body), req.from)),
      this.transport.handle('raft.propose', async req => await this.proposer.serve(checkRequest<ProposeRequest>(req.msg, 'raft.propose'))),
      this.transport.handle('raft.read', async req => await this.serveRead(checkRequest<ReadIndexRequest>(req.msg, 'raft.read')))
    ]
    this.state = 'running'
    node.start()
    if (this.init.voters !== undefined) this.bootstrap(this.init.voters)
    else if (this.init.bootstrap === true) this.bootstrap()
  }

  /** Reads the persisted state (throws ERR_STORE_IO or ERR_CORRUPT when it cannot). */
  private createNode (storage: RaftStorage): RaftNode {
    const heartbeatMs = this.init.heartbeatMs ?? K.HEARTBEAT_MS
    return new RaftNode({ clock: this.clock, random: this.c.random ?? Math.random, log: this.log, host: this.host() }, storage, {
      peerId: this.peerId,
      address: this.transport.address(),
      electionTimeoutMs: this.init.electionTimeoutMs ?? K.ELECTION_TIMEOUT_MS,
      heartbeatMs,
      rpcTimeoutMs: this.init.rpcTimeoutMs ?? K.RPC_TIMEOUT_HEARTBEATS * heartbeatMs,
      snapshotRpcTimeoutMs: K.SNAPSHOT_RPC_TIMEOUT_MS,
      snapshotThreshold: this.init.snapshotThreshold ?? K.SNAPSHOT_THRESHOLD_ENTRIES,
      maxVoters: this.init.maxVoters ?? K.MAX_VOTERS
    })
  }

  async stop (): Promise<void> {
    if (this.state === 'new') { this.state = 'stopped'; return }
    this.stopping ??= (async () => {
      this.state = 'stopped'
      const err = new PmzError('ERR_SHUTTING_DOWN', 'coordinator stopped')
      for (const off of this.unhandle) off()
      this.node.stop()
      this.proposals.rejectAll(err)
      this.waiters.rejectAll(err)
      this.proposer.rejectQueued(err)
      if (this.init.storage === undefined) {
        try { await this.storage?.close() } catch (e) { this.log.error({ err: e }, 'closing the raft log failed') }
      }
    })()
    await this.stopping
  }

  leader (): LeaderInfo | undefined {
    const n = this.node
    return n?.leaderId === undefined ? undefined : { peerId: n.leaderId, address: n.leaderAddress as string, term: n.term }
  }

  isLeader (): boolean { return this.node?.role === 'leader' }
  role (): Role { return this.node?.role ?? 'learner' }
  term (): number { return this.node?.term ?? 0 }
  commitIndex (): number { return this.node?.commitIndex ?? 0 }
  lastApplied (): number { return this.node?.lastApplied ?? 0 }
  config (): ClusterConfig { return this.node?.config ?? emptyConfig() }

  bootstrap (voters?: Array<{ peerId: string, address: string }>): boolean {
    this.assertRunning()
    const list = voters ?? [{ peerId: this.peerId, address: this.transport.address() }]
    return this.node.bootstrap(Object.fromEntries(list.map(v => [v.peerId, v.address])))
  }

  async propose (command: C, options: ProposeOptions = {}): Promise<Proposal<R>> {
    this.assertRunning()
    const deadline = this.deadline(options.timeoutMs ?? this.init.proposeTimeoutMs ?? K.PROPOSE_TIMEOUT_MS)
    // A copy: pack() returns a view of msgpackr's shared buffer, which a log entry would pin (and a clone would copy whole).
    return await this.proposer.submit({ command: new Uint8Array(pack(command)) }, deadline, options.forward ?? this.init.forward ?? true) as Proposal<R>
  }

  async addVoter (peerId: string, address: string, options: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ op: 'addVoter', peerId, address }, options)
  }

  async addLearner (peerId: string, address: string, options: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ op: 'addLearner', peerId, address }, options)
  }

  async removeVoter (peerId: string, options: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ op: 'removeVoter', peerId }, options)
  }

  async read (options: ProposeOptions = {}): Promise<{ index: number }> {
    this.assertRunning()
    const deadline = this.deadline(options.timeoutMs ?? this.init.proposeTimeoutMs ?? K.PROPOSE_TIMEOUT_MS)
    let index: number
    if (this.node.role === 'leader') {
      index = (await this.serveRead({ type: 'raft.read', v: 1, timeoutMs: deadline - this.clock.monotonic() })).index
    } else {
      const address = await this.proposer.leaderAddress(deadline, options.forward ?? this.init.forward ?? true)
      const reply = await this.proposer.forward(address, { type: 'raft.read', v: 1, timeoutMs: Math.max(0, Math.floor(deadline - this.clock.monotonic() - FORWARD_MARGIN_MS)) }, deadline)
      index = (checkReply(reply, 'raft.read') as ReadIndexReply).index
    }
    await this.waiters.until(() => this.node.lastApplied >= index ? true : undefined, deadline,
      () => noCoordinator('read index not applied before the deadline', { index }))
    return { index }
  }

  status (): CoordinatorStatus {
    const n = this.node
    return {
      peerId: this.peerId,
      role: this.role(),
      term: this.term(),
      leader: this.leader(),
      voters: { ...n?.config.voters },
      learners: { ...n?.config.learners },
      commitIndex: this.commitIndex(),
      leaderChanges: this.leaderChanges,
      lastApplied: this.lastApplied(),
      logSize: n?.log.size ?? 0,
      lastIndex: n?.log.lastIndex ?? 0,
      snapshotIndex: n?.log.snapshotIndex ?? 0
    }
  }

  on (event: 'leader:change', fn: (e: LeaderChangeEvent) => void): () => void
  on (event: 'applied', fn: (e: AppliedEvent<C, R>) => void): () => void
  on (event: string, fn: (e: any) => void): () => void { // eslint-disable-line @typescript-eslint/no-explicit-any
    this.events.on(event, fn)
    return () => { this.events.off(event, fn) }
  }

  private async serveRead (msg: ReadIndexRequest): Promise<ReadIndexReply> {
    const node = this.node
    if (node.role !== 'leader' || node.replicator === undefined) throw notLeader(node)
    const term = node.term
    const index = await withDeadline(this.clock, node.replicator.readIndex(), this.deadline(msg.timeoutMs), () => noCoordinator('no quorum confirmed the coordinator'))
    return { type: 'raft.read.reply', v: 1, index, term }
  }

  private async changeMembership (change: ConfigChange, options: ProposeOptions): Promise<void> {
    this.assertRunning()
    const deadline = this.deadline(options.timeoutMs ?? K.CONFIG_CHANGE_TIMEOUT_MS)
    await this.proposer.submit({ change }, deadline, options.forward ?? this.init.forward ?? true)
  }

  // ---- the host the protocol runs on ----

  private host (): RaftHost {
    return {
      rpc: (to, msg, timeoutMs, done) => {
        // A peer that restarted on another port is found where membership last saw it.
        const address = this.init.locate?.(to.peerId) ?? to.address
        const m = msg as RaftRequest
        const deliver = (reply: Parameters<typeof done>[0]): void => {
          if (this.state !== 'running') return
          try { done(reply) } catch (err) { this.log.error({ err, type: m.type }, 'raft reply handling failed') }
        }
        const wire: { msg: Message, body?: AsyncIterable<Uint8Array> } = m.type === 'raft.snapshot' ? snapshotOnWire(m) : { msg: m }
        this.transport.request(address, wire.msg, { timeoutMs, ...(wire.body !== undefined ? { body: wire.body } : {}) }).then(r => deliver(checkReply(r.msg, m.type) as Parameters<typeof done>[0]), () => deliver(undefined))
      },
      apply: entry => this.apply(entry),
      snapshotMachine: () => new Uint8Array(this.machine.snapshot()), // own buffer, as for commands
      restoreMachine: (snap: Snapshot) => {
        this.machine.restore(snap.data)
        this.proposals.skipped(snap.index)
      },
      leaderChanged: () => {
        const leader = this.leader()
        if (leader !== undefined && `${leader.term}/${leader.peerId}` !== this.lastLeader) {
          this.lastLeader = `${leader.term}/${leader.peerId}`
          this.leaderChanges++
        }
        this.emit('leader:change', { type: 'leader:change', leader } satisfies LeaderChangeEvent)
        this.waiters.poke()
      },
      progressed: () => this.waiters.poke()
    }
  }

  private apply (entry: Entry): void {
    if (entry.type !== 'cmd') { this.proposals.applied(entry, undefined); return }
    const command = unpack(entry.data) as C
    let result: R | undefined
    let error: unknown
    try {
      result = this.machine.apply(command, entry.index)
    } catch (err) {
      error = err ?? new Error('state machine threw')
    }
    this.proposals.applied(entry, result, error)
    this.emit('applied', { type: 'applied', index: entry.index, term: entry.term, command, result } satisfies AppliedEvent<C, R | undefined>)
  }

  private emit (event: string, payload: unknown): void {
    try { this.events.emit(event, payload) } catch (err) { this.log.error({ err, event }, 'coordinator listener threw') }
  }

  private deadline (timeoutMs: number): number { return this.clock.monotonic() + timeoutMs }

  private assertRunning (): void {
    if (this.state !== 'running') throw new PmzError('ERR_SHUTTING_DOWN', 'coordinator is not running')
  }
}
