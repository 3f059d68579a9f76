import type { Clock, Timer } from '../common/clock.js'
import { PmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Random } from '../common/random.js'
import type { Sender } from '../mesh/transport/types.js'
import { applyChange, hasQuorum, isVoter, voterIds, type ConfigChange } from './cluster-config.js'
import { emptyConfig, type ClusterConfig, type Entry, type Snapshot } from './entry.js'
import { notLeader } from './errors.js'
import type { AppendReply, AppendRequest, SnapshotReply, SnapshotRequest, VoteReply, VoteRequest } from './messages.js'
import type { RaftHost } from './raft-host.js'
import { RaftLog } from './raft-log.js'
import { Replicator } from './replicator.js'
import type { RaftStorage } from './storage.js'
import { decideVote } from './vote-rules.js'

/** `precandidate`: polling for a pre-vote; `learner`: not a voter of the configuration it knows (or none yet). */
export type Role = 'leader' | 'candidate' | 'precandidate' | 'follower' | 'learner'

export interface RaftNodeInit {
  peerId: string
  address: string
  electionTimeoutMs: number
  heartbeatMs: number
  rpcTimeoutMs: number
  snapshotThreshold: number
  maxVoters: number
  snapshotRpcTimeoutMs: number
}

/**
 * Raft's rules for one server (Ongaro & Ousterhout, and the thesis for
 * pre-vote, check-quorum and single-server changes), without I/O of its own:
 * requests come in as calls, replies go out as return values, and outgoing
 * requests and state machine work go through {@link RaftHost}. The leader's
 * side lives in {@link Replicator}.
 */
export class RaftNode {
  readonly log: RaftLog
  role: Role = 'learner'
  leaderId: string | undefined
  leaderAddress: string | undefined
  commitIndex = 0
  lastApplied = 0
  config: ClusterConfig = emptyConfig()
  configIndex = 0
  /** Index of the no-op this server appended when it became leader; reads and config changes wait for it to commit. */
  termStartIndex = 0
  replicator: Replicator | undefined
  private electionTimer: Timer | undefined
  private electionDeadline = 0
  private lastLeaderContact = -Infinity
  /** Bumped by every election and step-down so that late vote replies are ignored. */
  private round = 0
  private votes = new Set<string>()
  private stopped = false
  /**
   * Command bytes applied since the last compaction. The log is compacted
   * only once it holds as many bytes as the last snapshot (and
   * snapshotThreshold entries): a snapshot costs time in proportion to the
   * whole state, so a big state (tens of thousands of jobs) is snapshotted
   * less often and the cost per applied byte stays bounded (LogCabin's rule).
   */
  private appliedBytes = 0

  constructor (
    readonly c: { clock: Clock, random: Random, log: Logger, host: RaftHost },
    storage: RaftStorage,
    readonly init: RaftNodeInit
  ) {
    this.log = new RaftLog(storage)
  }

  get term (): number { return this.log.hard.term }
  get peerId (): string { return this.init.peerId }

  start (): void {
    if (this.log.snapshotIndex > 0) {
      this.c.host.restoreMachine(this.log.snapshot)
      this.commitIndex = this.lastApplied = this.log.snapshotIndex
    }
    this.refreshConfig()
    this.role = isVoter(this.config, this.peerId) ? 'follower' : 'learner'
    this.armElection()
    if (this.isSoleVoter()) this.preVote()
  }

  stop (): void {
    this.stopped = true
    this.electionTimer?.cancel()
    this.replicator?.stop()
  }

  /** Writes the first configuration into an empty log; false when the log is not empty (the cluster exists). */
  bootstrap (voters: Record<string, string>): boolean {
    if (this.log.lastIndex > 0 || this.term > 0) return false
    this.log.append([{ index: 1, term: 1, type: 'config', config: { voters, learners: {} } }], undefined, { term: 1, votedFor: null })
    this.refreshConfig()
    if (this.isSoleVoter()) this.preVote()
    return true
  }

  // ---- elections (Raft §5.2, thesis §9.6 pre-vote, §4.2.3 leader stickiness) ----

  handleVote (req: VoteRequest, from: Sender): VoteReply {
    const d = decideVote({
      term: this.term,
      votedFor: this.log.hard.votedFor,
      lastLogIndex: this.log.lastIndex,
      lastLogTerm: this.log.lastTerm,
      hasLiveLeader: this.role === 'leader' || (this.leaderId !== undefined && this.now() - this.lastLeaderContact < this.init.electionTimeoutMs),
      knowsLeader: this.leaderId !== undefined
    }, req, from.peerId)
    if (d.adoptTerm !== undefined) this.becomeFollower(d.adoptTerm)
    if (d.granted && !req.pre) {
      this.log.setHardState({ term: this.term, votedFor: from.peerId }) // durable before the reply leaves
      this.armElection()
    }
    return { type: 'raft.vote.reply', v: 1, term: d.term, granted: d.granted }
  }

  private preVote (): void {
    this.role = 'precandidate'
    this.poll(true, this.term + 1)
  }

  private campaign (): void {
    this.role = 'candidate'
    this.log.setHardState({ term: this.term + 1, votedFor: this.peerId })
    this.setLeader(undefined, undefined)
    this.poll(false, this.term)
  }

  private poll (pre: boolean, term: number): void {
    const round = ++this.round
    this.votes = new Set([this.peerId])
    this.armElection()
    if (hasQuorum(this.config, this.votes)) { pre ? this.campaign() : this.becomeLeader(); return }
    const req: VoteRequest = { type: 'raft.vote', v: 1, term, pre, lastLogIndex: this.log.lastIndex, lastLogTerm: this.log.lastTerm }
    for (const id of voterIds(this.config)) {
      if (id === this.peerId) continue
      this.c.host.rpc({ peerId: id, address: this.config.voters[id] }, req, this.init.rpcTimeoutMs, r => this.onVoteReply(round, pre, id, r))
    }
  }

  private onVoteReply (round: number, pre: boolean, from: string, r: VoteReply | undefined): void {
    if (this.stopped || round !== this.round || r === undefined || this.role !== (pre ? 'precandidate' : 'candidate')) return
    if (!r.granted) {
      if (r.term > this.term) this.becomeFollower(r.term)
      return
    }
    this.votes.add(from)
    if (hasQuorum(this.config, this.votes)) pre ? this.campaign() : this.becomeLeader()
  }

  private becomeLeader (): void {
    this.role = 'leader'
    this.round++
    this.setLeader(this.peerId, this.init.address)
    this.termStartIndex = this.log.lastIndex + 1
    this.log.append([{ index: this.termStartIndex, term: this.term, type: 'noop' }])
    this.c.log.info({ term: this.term, voters: voterIds(this.config) }, 'elected coordinator')
    this.replicator = new Replicator(this, { clock: this.c.clock, host: this.c.host }, this.init)
    this.replicator.start()
  }

  /** Leaves leadership or candidacy; with a higher `term`, adopts it (and forgets the vote). */
  becomeFollower (term: number, leader?: Sender): void {
    if (term > this.term) this.log.setHardState({ term, votedFor: null })
    if (this.replicator !== undefined) {
      this.c.log.info({ term: this.term }, 'stepped down as coordinator')
      this.replicator.stop()
      this.replicator = undefined
    }
    this.round++
    this.role = isVoter(this.config, this.peerId) ? 'follower' : 'learner'
    this.setLeader(leader?.peerId, leader?.address)
    this.armElection()
    this.c.host.progressed()
  }

  private armElection (): void {
    const span = this.init.electionTimeoutMs
    this.electionDeadline = this.now() + span + Math.floor(this.c.random() * span)
    if (this.electionTimer === undefined && !this.stopped) this.scheduleElectionCheck()
  }

  /** One timer, moved lazily: heartbeats only push the deadline, the timer re-arms itself when it fires early. */
  private scheduleElectionCheck (): void {
    this.electionTimer = this.c.clock.setTimeout(() => {
      this.electionTimer = undefined
      if (this.stopped || this.role === 'leader') return
      if (this.now() < this.electionDeadline) { this.scheduleElectionCheck(); return }
      if (this.leaderId !== undefined) this.setLeader(undefined, undefined)
      if (isVoter(this.config, this.peerId)) this.preVote()
      else this.armElection()
    }, Math.max(1, this.electionDeadline - this.now()))
  }

  // ---- log replication, follower side (Raft §5.3, §7) ----

  handleAppend (req: AppendRequest, from: Sender): AppendReply {
    const reply = (success: boolean, matchIndex: number, hint: Partial<AppendReply> = {}): AppendReply =>
      ({ type: 'raft.append.reply', v: 1, term: this.term, success, matchIndex, ...hint })
    if (!this.acceptLeader(req.term, from)) return reply(false, 0)
    let prev = req.prevIndex
    let entries = req.entries
    entries.forEach((e, i) => {
      if (e.index !== req.prevIndex + 1 + i) throw new PmzError('ERR_BAD_REQUEST', 'raft.append: entries not contiguous')
    })
    if (prev < this.log.snapshotIndex) {
      // Everything up to our snapshot is committed, hence the leader's too: skip it.
      entries = entries.slice(this.log.snapshotIndex - prev)
      prev = this.log.snapshotIndex
    } else if (this.log.term(prev) !== req.prevTerm) {
      if (prev > this.log.lastIndex) return reply(false, 0, { conflictIndex: this.log.lastIndex + 1 })
      return reply(false, 0, { conflictTerm: this.log.term(prev), conflictIndex: this.log.firstIndexOfTermAt(prev) })
    }
    let i = 0
    while (i < entries.length && this.log.term(entries[i].index) === entries[i].term) i++
    if (i < entries.length) {
      const first = entries[i].index
      const truncate = first <= this.log.lastIndex ? first : undefined
      if (truncate !== undefined && truncate <= this.commitIndex) {
        throw new PmzError('ERR_INTERNAL', 'leader tried to overwrite a committed entry', { details: { index: truncate } })
      }
      const rest = entries.slice(i)
      this.log.append(rest, truncate)
      if (truncate !== undefined || rest.some(e => e.type === 'config')) this.refreshConfig()
    }
    const lastNew = prev + entries.length
    if (req.leaderCommit > this.commitIndex) this.commitTo(Math.min(req.leaderCommit, lastNew))
    return reply(true, lastNew)
  }

  handleSnapshot (req: SnapshotRequest, from: Sender): SnapshotReply {
    const reply = (matchIndex: number): SnapshotReply => ({ type: 'raft.snapshot.reply', v: 1, term: this.term, matchIndex })
    if (!this.acceptLeader(req.term, from)) return reply(0)
    if (req.index <= this.commitIndex) return reply(this.commitIndex)
    const snap: Snapshot = { index: req.index, term: req.snapshotTerm, config: req.config, data: req.data }
    this.log.installSnapshot(snap)
    this.c.host.restoreMachine(snap)
    this.commitIndex = this.lastApplied = snap.index
    this.refreshConfig()
    this.c.host.progressed()
    return reply(snap.index)
  }

  /** Term check of a leader's message (the fence): false for a stale leader, else follow it and reset the election timer. */
  private acceptLeader (term: number, from: Sender): boolean {
    if (term < this.term) return false
    if (term > this.term || this.role !== 'follower' && this.role !== 'learner') this.becomeFollower(term, from)
    else this.setLeader(from.peerId, from.address)
    this.lastLeaderContact = this.now()
    this.armElection()
    return true
  }

  // ---- leader entry points ----

  /** Appends commands (msgpack bytes) as one batch; leader only. */
  appendCommands (commands: Uint8Array[]): Array<{ index: number, term: number }> {
    if (this.role !== 'leader') throw notLeader(this)
    const term = this.term
    const entries: Entry[] = commands.map((data, i) => ({ index: this.log.lastIndex + 1 + i, term, type: 'cmd', data }))
    this.log.append(entries)
    this.replicator?.afterAppend()
    return entries.map(e => ({ index: e.index, term }))
  }

  /** Appends a single-server configuration change; undefined when it changes nothing. Leader only. */
  changeConfig (change: ConfigChange): { index: number, term: number } | undefined {
    if (this.role !== 'leader') throw notLeader(this)
    // Thesis §4.1 and its 2015 erratum: one change at a time, and only once this leader committed an entry of its term.
    if (this.configIndex > this.commitIndex || this.commitIndex < this.termStartIndex) {
      throw new PmzError('ERR_CONFLICT', 'a configuration change is in progress', { retryable: true })
    }
    const config = applyChange(this.config, change, this.init.maxVoters)
    if (config === undefined) return undefined
    const entry: Entry = { index: this.log.lastIndex + 1, term: this.term, type: 'config', config }
    this.log.append([entry])
    this.refreshConfig()
    this.replicator?.afterAppend()
    return { index: entry.index, term: entry.term }
  }

  /** Raises the commit index and applies what became committed; snapshots when the log has grown. */
  commitTo (index: number): void {
    if (index <= this.commitIndex) return
    this.commitIndex = index
    while (this.lastApplied < this.commitIndex && !this.stopped) {
      const entry = this.log.entry(this.lastApplied + 1) as Entry
      this.lastApplied++
      if (entry.type === 'cmd') this.appliedBytes += entry.data.byteLength
      this.c.host.apply(entry)
    }
    // A leader removed from the voters steps down once the change is committed (thesis §4.2.2).
    if (this.role === 'leader' && !isVoter(this.config, this.peerId) && this.commitIndex >= this.configIndex) this.becomeFollower(this.term)
    if (this.lastApplied - this.log.snapshotIndex >= this.init.snapshotThreshold && this.appliedBytes >= this.log.snapshotBytes) this.compact()
    this.c.host.progressed()
  }

  private compact (): void {
    const index = this.lastApplied
    const snap: Snapshot = { index, term: this.log.term(index) as number, config: this.log.configAt(index).config, data: this.c.host.snapshotMachine() }
    this.log.installSnapshot(snap)
    this.appliedBytes = 0
    this.c.log.debug({ index, bytes: snap.data.byteLength }, 'raft log compacted')
  }

  private refreshConfig (): void {
    const { config, index } = this.log.configAt(this.log.lastIndex)
    this.config = config
    this.configIndex = index
    const voter = isVoter(config, this.peerId)
    if (this.role === 'follower' || this.role === 'learner') this.role = voter ? 'follower' : 'learner'
    else if (!voter && this.role !== 'leader') this.becomeFollower(this.term)
    this.replicator?.syncPeers()
  }

  private setLeader (peerId: string | undefined, address: string | undefined): void {
    if (this.leaderId === peerId && this.leaderAddress === address) return
    this.leaderId = peerId
    this.leaderAddress = address
    this.c.host.leaderChanged()
  }

  private isSoleVoter (): boolean {
    const ids = voterIds(this.config)
    return ids.length === 1 && ids[0] === this.peerId
  }

  now (): number { return this.c.clock.monotonic() }
}
