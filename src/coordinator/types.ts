import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Random } from '../common/random.js'
import type { Startable } from '../common/startable.js'
import type { Transport } from '../mesh/transport/types.js'
import type { ClusterConfig } from './entry.js'
import type { Proposal } from './proposals.js'
import type { Role } from './raft-node.js'
import type { RaftStorage } from './storage.js'

/**
 * A deterministic state machine fed by the replicated log. Every voter and
 * learner applies the same commands in the same order, so `apply` must
 * depend on nothing but the command and the machine's state (no clock, no
 * randomness, no I/O). Commands and results must be msgpack-able.
 */
export interface StateMachine<C, R> {
  /** Applies a committed command; what it returns (or throws) goes back to the proposer. */
  apply(command: C, index: number): R
  /** The whole state, as bytes; taken when the log is compacted. */
  snapshot(): Uint8Array
  /** Replaces the whole state with a snapshot's. */
  restore(snapshot: Uint8Array): void
}

/** The elected coordinator as this peer knows it. */
export interface LeaderInfo {
  peerId: string
  /** Mesh address of the leader. */
  address: string
  term: number
}

export interface LeaderChangeEvent { type: 'leader:change', leader: LeaderInfo | undefined }
/** `result` is undefined when the state machine threw for this command. */
export interface AppliedEvent<C, R> { type: 'applied', index: number, term: number, command: C, result: R }

export interface ProposeOptions {
  /** Deadline, ms; past it the call rejects with ERR_NO_COORDINATOR. @default PROPOSE_TIMEOUT_MS (CONFIG_CHANGE_TIMEOUT_MS for membership changes) */
  timeoutMs?: number
  /** On a follower, forward to the leader (true) or reject at once with details {leader, address} (false). @default CoordinatorInit.forward */
  forward?: boolean
}

/** For the admin route. */
export interface CoordinatorStatus {
  peerId: string
  role: Role
  term: number
  leader: LeaderInfo | undefined
  voters: Record<string, string>
  learners: Record<string, string>
  commitIndex: number
  /** Leaders this peer learned of since it started, one per term that had one (the first included): failovers are its increase. */
  leaderChanges: number
  lastApplied: number
  /** Entries kept after the snapshot. */
  logSize: number
  lastIndex: number
  snapshotIndex: number
}

/**
 * The coordinator: Raft among the coordinator-role peers. The leader orders
 * commands into a replicated log; every voter and learner applies them to
 * its state machine. Every leader message carries its term, and a stale
 * term is refused (see Fence for the peers that receive orders).
 */
export interface Coordinator<C, R> extends Startable {
  readonly peerId: string
  leader(): LeaderInfo | undefined
  isLeader(): boolean
  role(): Role
  term(): number
  commitIndex(): number
  lastApplied(): number
  /** Voters and learners of the configuration in force (the latest in the log). */
  config(): ClusterConfig
  /**
   * Orders `command`; resolves once it is committed and applied on this peer
   * (the leader, or the leader a follower forwarded to). Rejects with
   * ERR_NO_COORDINATOR when there is no leader or quorum before the deadline
   * (details.outcome 'unknown' when it may still commit later, 'lost' when it
   * was overwritten), never hangs.
   */
  propose(command: C, options?: ProposeOptions): Promise<Proposal<R>>
  /** Linearizable read barrier (read index): resolves once this peer's state machine reflects every write committed before the call. */
  read(options?: ProposeOptions): Promise<{ index: number }>
  /** Adds a voter, one server at a time: first as a learner, promoted once it has caught up; promotes an existing learner. */
  addVoter(peerId: string, address: string, options?: ProposeOptions): Promise<void>
  addLearner(peerId: string, address: string, options?: ProposeOptions): Promise<void>
  /** Removes a voter or a learner. A leader that removes itself steps down once the change is committed. */
  removeVoter(peerId: string, options?: ProposeOptions): Promise<void>
  /** Writes a first configuration into an empty log (default: this peer alone); false when there is a log already. */
  bootstrap(voters?: Array<{ peerId: string, address: string }>): boolean
  status(): CoordinatorStatus
  /** The leader this peer knows changed: elected, stepped down, or unknown after an election timeout. */
  on(event: 'leader:change', fn: (e: LeaderChangeEvent) => void): () => void
  /** Each command applied, in log order; not emitted for commands a snapshot install covered (the state machine was restored instead). */
  on(event: 'applied', fn: (e: AppliedEvent<C, R>) => void): () => void
}

export interface CoordinatorComponents {
  transport: Transport
  clock: Clock
  log: Logger
  /** Draws the election timeouts. @default Math.random */
  random?: Random
}

export interface CoordinatorInit {
  /** @default transport.peerId */
  peerId?: string
  /** Where term, vote, log and snapshot live; the caller owns it. Either this or `dataDir`. */
  storage?: RaftStorage
  /** Directory of an LMDB environment of the coordinator's own (opened at start, closed at stop). */
  dataDir?: string
  /** Durability of the LMDB log: see LmdbRaftStorageInit.sync. @default 'fsync' */
  sync?: 'fsync' | 'os'
  /** Initial voters, written into an empty log at start (all of them must be given the same list). */
  voters?: Array<{ peerId: string, address: string }>
  /** With an empty log, start as a one-voter cluster of this peer. @default false */
  bootstrap?: boolean
  /** Lower bound of the randomized election timeout, ms (drawn in [t, 2t)). @default ELECTION_TIMEOUT_MS */
  electionTimeoutMs?: number
  /** Leader heartbeat interval, ms. @default HEARTBEAT_MS */
  heartbeatMs?: number
  /** Deadline of vote and append requests, ms. @default 2 * heartbeatMs */
  rpcTimeoutMs?: number
  /** Applied entries between snapshots. @default SNAPSHOT_THRESHOLD_ENTRIES */
  snapshotThreshold?: number
  /** @default PROPOSE_TIMEOUT_MS */
  proposeTimeoutMs?: number
  /** @default MAX_VOTERS */
  maxVoters?: number
  /** Followers forward proposals to the leader. @default true */
  forward?: boolean
  /** Where a peer of the configuration can be reached now (e.g. from membership); its address in the configuration when undefined. */
  locate?: (peerId: string) => string | undefined
}
