import type { Clock, Timer } from '../common/clock.js'
import { hasQuorum, majorityMatch, replicas, voterIds } from './cluster-config.js'
import { MAX_APPEND_BYTES, MAX_APPEND_ENTRIES, MAX_INFLIGHT_APPENDS, SNAPSHOT_BYTES_PER_MS } from './constants.js'
import type { AppendReply, SnapshotReply } from './messages.js'
import type { ClusterConfig } from './entry.js'
import { notLeader } from './errors.js'
import type { RaftHost } from './raft-host.js'
import type { RaftLog } from './raft-log.js'

/** The parts of the server a leader's replicator reads and drives (RaftNode; an interface to keep the import one-way). */
export interface LeaderContext {
  readonly peerId: string
  readonly term: number
  readonly log: RaftLog
  readonly config: ClusterConfig
  readonly commitIndex: number
  readonly termStartIndex: number
  readonly leaderId: string | undefined
  readonly leaderAddress: string | undefined
  now(): number
  commitTo(index: number): void
  becomeFollower(term: number): void
}

/**
 * What the leader knows of one follower or learner. `probe`: one request at a
 * time until a success shows where the logs agree; `replicate`: up to
 * MAX_INFLIGHT_APPENDS pipelined requests; `snapshot`: an InstallSnapshot is
 * in flight.
 */
interface Progress {
  peerId: string
  address: string
  next: number
  match: number
  inflight: number
  mode: 'probe' | 'replicate' | 'snapshot'
  /** Monotonic ms of the last reply of the current term (check-quorum). */
  lastAck: number
  /** Highest request sequence number acknowledged (read index confirmation). */
  ackSeq: number
  /** Commit index last sent, so a commit is passed on even when there is nothing to append. */
  sentCommit: number
}

interface PendingRead { seq: number, index: number, resolve: (index: number) => void, reject: (err: Error) => void }

/** The leader's side of one term: progress per peer, heartbeats, commit, check-quorum and read-index confirmation. */
export class Replicator {
  private readonly peers = new Map<string, Progress>()
  private timer: Timer | undefined
  private seq = 0
  private reads: PendingRead[] = []
  private stopped = false

  constructor (
    private readonly node: LeaderContext,
    private readonly c: { clock: Clock, host: RaftHost },
    private readonly init: { heartbeatMs: number, electionTimeoutMs: number, rpcTimeoutMs: number, snapshotRpcTimeoutMs: number }
  ) {}

  start (): void {
    this.syncPeers()
    this.timer = this.c.clock.setInterval(() => this.tick(), this.init.heartbeatMs)
    this.afterAppend()
  }

  stop (): void {
    this.stopped = true
    this.timer?.cancel()
    for (const r of this.reads) r.reject(notLeader(this.node))
    this.reads = []
  }

  /** Follows the configuration: progress for new peers, none for removed ones. */
  syncPeers (): void {
    const wanted = new Map(replicas(this.node.config, this.node.peerId))
    for (const id of this.peers.keys()) if (!wanted.has(id)) this.peers.delete(id)
    for (const [peerId, address] of wanted) {
      const p = this.peers.get(peerId)
      if (p !== undefined) { p.address = address; continue }
      this.peers.set(peerId, {
        peerId, address, next: this.node.log.lastIndex + 1, match: 0, inflight: 0, mode: 'probe', lastAck: this.node.now(), ackSeq: 0, sentCommit: 0
      })
    }
  }

  matchOf (peerId: string): number {
    return peerId === this.node.peerId ? this.node.log.lastIndex : this.peers.get(peerId)?.match ?? 0
  }

  /** New entries are in the leader's log: commit them if the leader alone is a majority, and ship them. */
  afterAppend (): void {
    this.advanceCommit()
    this.broadcast(false)
  }

  /**
   * Read index (thesis §6.4): resolves with an index such that applying up to
   * it makes a read linearizable, once a majority acknowledged a request sent
   * after the call (so this server was still the leader).
   */
  async readIndex (): Promise<number> {
    return await new Promise<number>((resolve, reject) => {
      this.reads.push({ seq: this.seq, index: Math.max(this.node.commitIndex, this.node.termStartIndex), resolve, reject })
      this.broadcast(true)
      this.confirmReads()
    })
  }

  private tick (): void {
    if (this.stopped) return
    // Check-quorum (thesis §6.2): a leader that has not heard from a majority for a whole election timeout steps down.
    const now = this.node.now()
    const window = 2 * this.init.electionTimeoutMs
    const live = voterIds(this.node.config).filter(id => id === this.node.peerId || now - (this.peers.get(id)?.lastAck ?? -Infinity) <= window)
    if (!hasQuorum(this.node.config, live)) {
      this.node.becomeFollower(this.node.term)
      return
    }
    this.broadcast(true)
  }

  private broadcast (heartbeat: boolean): void {
    for (const p of this.peers.values()) this.send(p, heartbeat)
  }

  private send (p: Progress, heartbeat: boolean): void {
    if (this.stopped || p.mode === 'snapshot' || p.inflight >= (p.mode === 'replicate' ? MAX_INFLIGHT_APPENDS : 1)) return
    const log = this.node.log
    if (p.next <= log.snapshotIndex) { this.sendSnapshot(p); return }
    const entries = log.slice(p.next, MAX_APPEND_ENTRIES, MAX_APPEND_BYTES)
    const leaderCommit = this.node.commitIndex
    if (entries.length === 0 && !heartbeat && p.mode === 'replicate' && p.sentCommit >= leaderCommit) return
    const prevIndex = p.next - 1
    const seq = ++this.seq
    p.inflight++
    p.sentCommit = leaderCommit
    if (p.mode === 'replicate' && entries.length > 0) p.next = (entries.at(-1) as { index: number }).index + 1
    const msg = { type: 'raft.append' as const, v: 1 as const, term: this.node.term, prevIndex, prevTerm: log.term(prevIndex) as number, entries, leaderCommit }
    this.c.host.rpc(p, msg, this.init.rpcTimeoutMs, r => this.onAppendReply(p, seq, prevIndex, r))
  }

  private onAppendReply (p: Progress, seq: number, prevIndex: number, r: AppendReply | undefined): void {
    if (this.stopped || this.peers.get(p.peerId) !== p) return
    p.inflight = Math.max(0, p.inflight - 1)
    if (r === undefined) {
      // Lost or late: fall back to probing from what is known to match; the next heartbeat retries.
      if (p.mode === 'replicate') { p.mode = 'probe'; p.next = p.match + 1 }
      return
    }
    if (r.term > this.node.term) { this.node.becomeFollower(r.term); return }
    p.lastAck = this.node.now()
    p.ackSeq = Math.max(p.ackSeq, seq)
    if (r.success) {
      const moved = r.matchIndex > p.match
      p.match = Math.max(p.match, r.matchIndex)
      p.next = Math.max(p.next, p.match + 1)
      if (p.mode === 'probe') p.mode = 'replicate'
      this.advanceCommit()
      if (moved) this.c.host.progressed() // a learner catching up is awaited by addVoter
    } else if (prevIndex >= p.match) {
      // Fast backtracking: skip the follower's whole conflicting term at once (Raft §5.3, end).
      const inLeader = r.conflictTerm === undefined ? undefined : this.node.log.lastIndexOfTerm(r.conflictTerm, prevIndex)
      const next = inLeader !== undefined ? inLeader + 1 : (r.conflictIndex ?? prevIndex)
      p.next = Math.max(p.match + 1, Math.min(next, prevIndex))
      p.mode = 'probe'
    }
    this.confirmReads()
    if (!this.stopped) this.send(p, false)
  }

  private sendSnapshot (p: Progress): void {
    const snap = this.node.log.snapshot
    p.mode = 'snapshot'
    p.inflight = 1
    const seq = ++this.seq
    const msg = { type: 'raft.snapshot' as const, v: 1 as const, term: this.node.term, index: snap.index, snapshotTerm: snap.term, config: snap.config, data: snap.data }
    // The follower hears nothing else meanwhile, so the deadline grows with the size only.
    const timeoutMs = this.init.snapshotRpcTimeoutMs + Math.ceil(snap.data.byteLength / SNAPSHOT_BYTES_PER_MS)
    this.c.host.rpc(p, msg, timeoutMs, r => this.onSnapshotReply(p, seq, r))
  }

  private onSnapshotReply (p: Progress, seq: number, r: SnapshotReply | undefined): void {
    if (this.stopped || this.peers.get(p.peerId) !== p) return
    p.inflight = 0
    p.mode = 'probe'
    if (r === undefined) return
    if (r.term > this.node.term) { this.node.becomeFollower(r.term); return }
    p.lastAck = this.node.now()
    p.ackSeq = Math.max(p.ackSeq, seq)
    p.match = Math.max(p.match, r.matchIndex)
    p.next = p.match + 1
    this.confirmReads()
    this.send(p, false)
  }

  /** Commit rule (Raft §5.4.2): the majority's match index, if that entry is of the current term. */
  private advanceCommit (): void {
    const n = majorityMatch(this.node.config, id => this.matchOf(id))
    if (n > this.node.commitIndex && this.node.log.term(n) === this.node.term) {
      this.node.commitTo(n)
      if (!this.stopped) this.broadcast(false)
    }
    this.confirmReads()
  }

  private confirmReads (): void {
    if (this.reads.length === 0) return
    const config = this.node.config
    this.reads = this.reads.filter(r => {
      const acks = voterIds(config).filter(id => id === this.node.peerId || (this.peers.get(id)?.ackSeq ?? 0) > r.seq)
      if (!hasQuorum(config, acks)) return true
      r.resolve(r.index)
      return false
    })
  }
}
