import { PmzError } from '../common/errors.js'
import type { Message } from '../mesh/transport/types.js'
import type { ConfigChange } from './cluster-config.js'
import { RAFT_WIRE_VERSION } from './constants.js'
import type { ClusterConfig, Entry } from './entry.js'

// Type aliases, not interfaces, so that messages are assignable to the transport's indexed Message.

/**
 * RequestVote (Raft §5.2), also as a pre-vote (thesis §9.6): with `pre`, the
 * receiver only says whether it would vote at `term`, changing nothing.
 */
export type VoteRequest = { type: 'raft.vote', v: 1, term: number, pre: boolean, lastLogIndex: number, lastLogTerm: number }
export type VoteReply = { type: 'raft.vote.reply', v: 1, term: number, granted: boolean }

/** AppendEntries (Raft §5.3); empty `entries` is a heartbeat. `term` fences stale leaders. */
export type AppendRequest = {
  type: 'raft.append'
  v: 1
  term: number
  prevIndex: number
  prevTerm: number
  entries: Entry[]
  leaderCommit: number
}
/**
 * On success `matchIndex` is the last index known to match the leader. On a
 * mismatch, the conflict hint for fast backtracking: `conflictTerm` is the
 * follower's term at prevIndex (absent when its log is shorter) and
 * `conflictIndex` the first index of that term (or its last index + 1).
 */
export type AppendReply = {
  type: 'raft.append.reply'
  v: 1
  term: number
  success: boolean
  matchIndex: number
  conflictIndex?: number
  conflictTerm?: number
}

/**
 * InstallSnapshot (Raft §7). On the wire `data` travels as the request's
 * byte stream (the transport's frames stop at 4 MiB and a job table of tens
 * of thousands of jobs is larger): see snapshotOnWire / snapshotFromWire.
 */
export type SnapshotRequest = {
  type: 'raft.snapshot'
  v: 1
  term: number
  index: number
  snapshotTerm: number
  config: ClusterConfig
  data: Uint8Array
}
export type SnapshotReply = { type: 'raft.snapshot.reply', v: 1, term: number, matchIndex: number }

/** A follower forwarding a client's command (msgpack bytes) or a membership change to the leader. */
export type ProposeRequest = { type: 'raft.propose', v: 1, command?: Uint8Array, change?: ConfigChange, timeoutMs: number }
export type ProposeReply = { type: 'raft.propose.reply', v: 1, index: number, term: number, result: unknown }

/** A follower asking the leader for a read index (thesis §6.4). */
export type ReadIndexRequest = { type: 'raft.read', v: 1, timeoutMs: number }
export type ReadIndexReply = { type: 'raft.read.reply', v: 1, index: number, term: number }

export type RaftRequest = VoteRequest | AppendRequest | SnapshotRequest | ProposeRequest | ReadIndexRequest
export type RaftReply = VoteReply | AppendReply | SnapshotReply | ProposeReply | ReadIndexReply

/** The reply type of each request type. */
export interface ReplyOf {
  'raft.vote': VoteReply
  'raft.append': AppendReply
  'raft.snapshot': SnapshotReply
  'raft.propose': ProposeReply
  'raft.read': ReadIndexReply
}

const REPLY_TYPE: Record<RaftRequest['type'], RaftReply['type']> = {
  'raft.vote': 'raft.vote.reply',
  'raft.append': 'raft.append.reply',
  'raft.snapshot': 'raft.snapshot.reply',
  'raft.propose': 'raft.propose.reply',
  'raft.read': 'raft.read.reply'
}

const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0

/** Checks a request that arrived: version and the numeric fields Raft relies on. Throws ERR_BAD_REQUEST. */
export function checkRequest<T extends RaftRequest> (msg: Message, type: T['type']): T {
  if (msg.v !== RAFT_WIRE_VERSION) throw new PmzError('ERR_BAD_REQUEST', `unsupported ${type} version`, { details: { v: msg.v } })
  const numeric = type === 'raft.propose' || type === 'raft.read' ? ['timeoutMs'] : ['term']
  if (type === 'raft.append') numeric.push('prevIndex', 'prevTerm', 'leaderCommit')
  if (type === 'raft.vote') numeric.push('lastLogIndex', 'lastLogTerm')
  if (type === 'raft.snapshot') numeric.push('index', 'snapshotTerm')
  for (const f of numeric) if (!isNat(msg[f])) throw new PmzError('ERR_BAD_REQUEST', `${type}: bad ${f}`)
  if (type === 'raft.append' && !Array.isArray(msg.entries)) throw new PmzError('ERR_BAD_REQUEST', `${type}: bad entries`)
  if (type === 'raft.propose' && !(msg.command instanceof Uint8Array) && (typeof msg.change !== 'object' || msg.change === null)) {
    throw new PmzError('ERR_BAD_REQUEST', `${type}: needs a command or a change`)
  }
  return msg as unknown as T
}

/** Largest snapshot a follower accepts, bytes (a bound on what one request may make it buffer). */
const MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024
/** Bytes per chunk of a snapshot's stream. */
const SNAPSHOT_CHUNK_BYTES = 256 * 1024

/** The message without its data, and the data as the request's byte stream. */
export function snapshotOnWire (req: SnapshotRequest): { msg: Omit<SnapshotRequest, 'data'> & { bytes: number }, body: AsyncIterable<Uint8Array> } {
  const { data, ...rest } = req
  async function * chunks (): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < data.byteLength; at += SNAPSHOT_CHUNK_BYTES) yield data.subarray(at, at + SNAPSHOT_CHUNK_BYTES)
  }
  return { msg: { ...rest, bytes: data.byteLength }, body: chunks() }
}

/** A checked snapshot request with its data read back from the stream (or inline, from a sender that put it there). */
export async function snapshotFromWire (req: SnapshotRequest & { bytes?: unknown }, body: AsyncIterable<Uint8Array> | undefined): Promise<SnapshotRequest> {
  if (body === undefined) {
    if (!(req.data instanceof Uint8Array)) throw new PmzError('ERR_BAD_REQUEST', 'raft.snapshot: no data')
    return req
  }
  if (!isNat(req.bytes) || req.bytes > MAX_SNAPSHOT_BYTES) throw new PmzError('ERR_BAD_REQUEST', 'raft.snapshot: bad bytes')
  const data = new Uint8Array(req.bytes)
  let at = 0
  for await (const chunk of body) {
    if (at + chunk.byteLength > data.byteLength) throw new PmzError('ERR_BAD_REQUEST', 'raft.snapshot: more data than announced')
    data.set(chunk, at)
    at += chunk.byteLength
  }
  if (at !== data.byteLength) throw new PmzError('ERR_BAD_REQUEST', 'raft.snapshot: data cut short')
  const { bytes: _bytes, ...rest } = req
  return { ...rest, data }
}

/** Checks a reply: its type must answer the request and its term be a number; undefined when it does not. */
export function checkReply<K extends RaftRequest['type']> (msg: Message, request: K): ReplyOf[K] | undefined {
  if (msg.type !== REPLY_TYPE[request] || msg.v !== RAFT_WIRE_VERSION) return undefined
  if (request !== 'raft.propose' && !isNat(msg.term)) return undefined
  return msg as unknown as ReplyOf[K]
}
