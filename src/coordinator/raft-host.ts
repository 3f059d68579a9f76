import type { Entry, Snapshot } from './entry.js'
import type { RaftRequest, ReplyOf } from './messages.js'

export type OutgoingType = 'raft.vote' | 'raft.append' | 'raft.snapshot'

/** What the protocol needs from the outside: the network and the state machine. Never throws. */
export interface RaftHost {
  /** Sends a request; `done` gets the reply, or undefined on any failure (timeout, unreachable, malformed). */
  rpc<K extends OutgoingType>(to: { peerId: string, address: string }, msg: Extract<RaftRequest, { type: K }>, timeoutMs: number, done: (reply: ReplyOf[K] | undefined) => void): void
  /** A committed entry, in log order; the host feeds commands to the state machine. */
  apply(entry: Entry): void
  snapshotMachine(): Uint8Array
  restoreMachine(snapshot: Snapshot): void
  /** The known leader changed (or became unknown). */
  leaderChanged(): void
  /** commitIndex or lastApplied moved, or leadership was lost: waiters may re-check. */
  progressed(): void
}
