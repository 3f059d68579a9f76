/**
 * The data Raft persists and replicates. Everything here is plain and
 * msgpack-able: entries travel in AppendEntries and sit in LMDB as they are.
 */

/** Voters and learners of the cluster, each mapped to its mesh address (`host:port`). */
export interface ClusterConfig {
  voters: Record<string, string>
  learners: Record<string, string>
}

/** One slot of the replicated log. Commands are msgpack bytes, so the log never depends on a state machine's types. */
export type Entry =
  /** Appended by every new leader: Raft §5.4.2, a leader commits entries of earlier terms only through one of its own. */
  | { index: number, term: number, type: 'noop' }
  | { index: number, term: number, type: 'cmd', data: Uint8Array }
  /** A whole new configuration; it takes effect as soon as it is in a log, committed or not (thesis §4.1). */
  | { index: number, term: number, type: 'config', config: ClusterConfig }

/** A state machine image covering every entry up to `index`, with the configuration in force there. */
export interface Snapshot {
  index: number
  term: number
  config: ClusterConfig
  data: Uint8Array
}

/** What a server must never forget: its term and whom it voted for in it. */
export interface HardState {
  term: number
  votedFor: string | null
}

/** An empty configuration: a server that was never bootstrapped nor added. */
export function emptyConfig (): ClusterConfig {
  return { voters: {}, learners: {} }
}

/** Rough size of an entry on the wire, for batching. */
export function entryBytes (e: Entry): number {
  if (e.type === 'cmd') return 24 + e.data.byteLength
  if (e.type === 'config') return 24 + 48 * (Object.keys(e.config.voters).length + Object.keys(e.config.learners).length)
  return 24
}
