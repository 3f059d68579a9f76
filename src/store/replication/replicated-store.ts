import type { Clock } from '../../common/clock.js'
import type { Random } from '../../common/random.js'
import { PmzError, notFound } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { Transport } from '../../mesh/transport/index.js'
import { DAY_MS } from '../constants.js'
import type { Key } from '../key.js'
import { entryToMeta, isLiveEntry, type ReplicaEntry, type ValueMeta } from '../record.js'
import type { ApplyResult, KeyChange, ListOptions, PutOptions, RepairEvent, ReplicaPut, ReplicaStore, ReplicationStats, RingStatus, Store, StoreStats, StoredValue } from '../types.js'
import { DEAD_PEER_GRACE_MS, INLINE_MAX_BYTES } from './constants.js'
import { AntiEntropy, type AntiEntropyInit, type RoundResult } from './anti-entropy.js'
import { HintedHandoff } from './hints.js'
import { Placement, type Target } from './placement.js'
import { ReadRepair } from './read-repair.js'
import { LeaseGrants, LeaseHolder, type LeaseRing } from './leases.js'
import { Survey } from './survey.js'
import { Reader } from './reader.js'
import { ReplicaClient } from './replica-client.js'
import { ReplicaWriter, readWhole, type Staging } from './replica-writer.js'
import { Register, quorumOf, type Decided, type Payload } from './register.js'
import { quorumNotMet } from './quorum.js'
import { serveReplica } from './replica-server.js'

export interface ReplicatedStoreComponents {
  /** This peer's own store; it holds data only when this peer is on the ring (volume role). */
  local: ReplicaStore
  transport: Transport
  membership: Membership
  clock: Clock
  log: Logger
  /** Backoff jitter of concurrent writes of one key, and of anti-entropy's rounds. @default Math.random */
  random?: Random
}

export interface ReplicatedStoreInit {
  /** Copies of each key (N), capped by the number of volume peers. @default 3 */
  replicas?: number
  /** Replicas that must commit before a write is acknowledged (W), capped by N. @default 2 */
  writeQuorum?: number
  /** Anti-entropy and rebalancing: intervals, the dead-peer grace period, per-round budgets. */
  antiEntropy?: AntiEntropyInit
  /** Directory of the hinted-handoff log; without it a skipped replica waits for read repair. */
  hintsDir?: string
  /** Hints older than this are dropped (the tombstone grace). @default 168 hours */
  hintMaxAgeMs?: number
  /** Hints kept per replica; past it anti-entropy repairs what it missed. @default MAX_HINTS_PER_TARGET */
  hintMaxPerTarget?: number
  /**
   * This peer was told to join others (a static join list): until it has
   * seen another volume peer (or the dead-peer grace has passed) it is not a
   * one-peer cluster, and answers 503 rather than take writes alone. @default false
   */
  expectPeers?: boolean
}

/**
 * The {@link Store} the gateway uses: keys placed on a consistent-hash ring
 * over the volume peers, N copies each. Writes go once to every live replica
 * (a small value inside one message, a larger one streamed and fanned out,
 * see ReplicaWriter) and are acknowledged after W commits; reads survey the
 * replicas' records (R = N - W + 1 answers, so an acknowledged write is
 * always seen; all of them while the ring is not settled), take the newest
 * by HLC, read the bytes from the nearest replica holding it, and repair the
 * stale ones.
 *
 * With the only replica being this peer (one peer, N = 1) every call goes
 * straight to the local store.
 */
export class ReplicatedStore implements Store {
  private readonly local: ReplicaStore
  private readonly clock: Clock
  private readonly log: Logger
  private readonly placement: Placement
  private readonly client: ReplicaClient
  private readonly repair: ReadRepair
  private readonly antiEntropy: AntiEntropy
  private readonly handoff: HintedHandoff | undefined
  private readonly writer: ReplicaWriter
  private readonly register: Register
  /** The read path: alone under a read lease, through a replica, or a survey. */
  private readonly reader: Reader
  /** Read leases this peer granted the other replicas. */
  private readonly grants: LeaseGrants
  /** Read leases this peer holds, and the keys its own copy answers alone. */
  private readonly leases: LeaseHolder
  private offs: Array<() => void> = []
  private started = false
  /** Until when a peer that expects others (a join list, or a ring remembered from before a restart) refuses to act alone, ms since the epoch. */
  private aloneUntil = 0
  private recorded = ''
  private forget: { cancel: () => void } | undefined
  private readonly repairListeners = new Set<(e: RepairEvent) => void>()
  /** The ring last reported to repair listeners (membership and anti-entropy both see a change: it is told once). */
  private ringReported = ''

  constructor (private readonly c: ReplicatedStoreComponents, private readonly init: ReplicatedStoreInit = {}) {
    this.local = c.local
    this.clock = c.clock
    this.log = c.log
    this.placement = new Placement(c.membership, init.replicas ?? 3, init.writeQuorum ?? 2)
    const ring: LeaseRing = { fingerprint: () => this.placement.fingerprint(), preferenceList: key => this.placement.preferenceList(key) }
    this.grants = new LeaseGrants({ clock: c.clock, ring, newId: () => c.local.nextVersion() })
    this.client = new ReplicaClient(c.transport, c.local, { leases: this.grants, self: c.membership.peerId })
    this.leases = new LeaseHolder({ clock: c.clock, ring, ask: async (t, fingerprint, since) => await this.client.lease(t, fingerprint, since), settled: () => this.antiEntropy.settled(), log: c.log })
    this.repair = new ReadRepair(this.client, c.clock, c.log)
    this.writer = new ReplicaWriter({ client: this.client, membership: c.membership, clock: c.clock, log: c.log })
    const surveys = new Survey({ client: this.client, placement: this.placement, repair: this.repair, clock: c.clock, settled: () => this.antiEntropy.settled() })
    this.reader = new Reader({ local: c.local, client: this.client, placement: this.placement, surveys, leases: this.leases, clock: c.clock, log: c.log })
    this.register = new Register({ client: this.client, membership: c.membership, local: c.local, clock: c.clock, random: c.random ?? Math.random, log: c.log, proposing: (key, ballot) => { this.leases.written(key, ballot) } })
    this.antiEntropy = new AntiEntropy({ local: c.local, client: this.client, placement: this.placement, membership: c.membership, transport: c.transport, clock: c.clock, random: c.random ?? Math.random, log: c.log }, init.antiEntropy)
    this.handoff = init.hintsDir === undefined
      ? undefined
      : new HintedHandoff({ client: this.client, placement: this.placement, membership: c.membership, clock: c.clock, log: c.log }, { dir: init.hintsDir, maxAgeMs: init.hintMaxAgeMs ?? 168 * 3_600_000, maxPerTarget: init.hintMaxPerTarget })
    this.antiEntropy.onRepair(e => { this.reportRepair(e) })
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.local.start()
    this.started = true
    // The ring this peer was on before a restart stays, its peers unreachable, until membership finds them (Placement.remember).
    const graceMs = this.init.antiEntropy?.deadGraceMs ?? DEAD_PEER_GRACE_MS
    const before = this.local.lastRing().filter(p => p !== this.c.membership.peerId)
    if (before.length > 0 || this.init.expectPeers === true) this.aloneUntil = this.clock.now() + graceMs
    if (before.length > 0) this.grants.restarted()
    this.placement.remember(before)
    this.forget = this.clock.setTimeout(() => {
      const unknown = this.placement.unknownRemembered()
      if (unknown.length > 0) this.log.warn({ peers: unknown, graceMs }, 'peers of the ring before the restart never came back; placing keys without them')
      this.placement.remember([])
      this.noteRing()
    }, graceMs)
    this.recorded = this.placement.peerIds().join(',')
    this.ringReported = this.recorded
    await this.handoff?.start()
    this.offs = [
      serveReplica(this.c.transport, this.local, {
        grants: this.grants,
        read: async key => await this.reader.readHere(key),
        promising: (key, ballot) => { this.leases.promising(key, ballot) },
        accepting: (key, version) => { this.leases.accepting(key, version) },
        learnt: chosen => { this.leases.learnt(chosen) }
      }, this.log),
      this.c.membership.on('peer:change', () => {
        this.placement.refresh()
        this.noteRing()
      })
    ]
    this.antiEntropy.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.forget?.cancel()
    for (const off of this.offs.splice(0)) off()
    await this.antiEntropy.stop()
    await this.repair.idle()
    await this.handoff?.stop()
    await this.local.stop()
  }

  /** Records the ring when it changed (Placement.remember reads it back after a restart); another peer seen ends the wait for one. */
  private noteRing (): void {
    const ids = this.placement.peerIds()
    if (ids.length > 1) this.aloneUntil = 0
    const sig = ids.join(',')
    if (sig === this.recorded) return
    this.recorded = sig
    this.reportRepair({ type: 'ring', peers: ids })
    this.local.recordRing(ids).catch(err => { this.log.warn({ err }, 'recording the placement ring failed') })
  }

  /**
   * Whether this peer may act as a one-peer cluster now: not while it waits
   * for peers it expects (ERR_QUORUM_NOT_MET, 503, instead: a write taken
   * alone would have one copy, a read could call a key absent that the
   * others hold).
   */
  private alone (): boolean {
    if (!this.placement.selfOnly()) return false
    if (this.aloneUntil > this.clock.now()) throw new PmzError('ERR_QUORUM_NOT_MET', 'this peer has not joined the other volume peers yet', { details: { retry: true } })
    return true
  }

  onRepair (fn: (e: RepairEvent) => void): () => void {
    this.repairListeners.add(fn)
    return () => { this.repairListeners.delete(fn) }
  }

  private reportRepair (e: RepairEvent): void {
    if (e.type === 'ring') {
      const sig = e.peers.join(',')
      if (sig === this.ringReported) return
      this.ringReported = sig
    }
    for (const fn of this.repairListeners) {
      try {
        fn(e)
      } catch (err) {
        this.log.warn({ err }, 'repair listener failed')
      }
    }
  }

  /** The ring and the repair state (admin/ring). */
  async ringStatus (): Promise<RingStatus> {
    return await this.antiEntropy.status()
  }

  /** Runs an anti-entropy round now instead of at its timer (or waits for the one running); resolves with what it did. */
  async repairNow (): Promise<RoundResult> {
    return await this.antiEntropy.runRound()
  }

  /** Whether anti-entropy confirmed every live replica since the ring last changed (until then reads and writes ask every replica). */
  ringSettled (): boolean {
    return this.antiEntropy.settled()
  }

  /** Hands the hints waiting for `target` to it now instead of at the next pass (no-op without hinted handoff). */
  async deliverHints (target: string): Promise<void> {
    await this.handoff?.deliver(target)
  }

  /** The HTTP base URL of a live replica of `key` other than this peer; undefined when this peer is one (or none is known). */
  ownerUrl (key: Key): string | undefined {
    const first = this.placement.readOrder(key)[0]
    return first === undefined || first.isSelf || first.http === '' ? undefined : first.http
  }

  replicasOf (key: Key): string[] {
    // Membership listeners run in no set order: take a ring change the store's own listener has not seen yet.
    this.placement.refresh()
    return this.placement.preferenceList(key)
  }

  async stat (key: Key): Promise<ValueMeta | undefined> {
    if (this.alone()) return await this.local.stat(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.stat(key)
    const newest = await this.reader.entry(key, targets)
    return isLiveEntry(newest, this.clock.now()) ? entryToMeta(newest) : undefined
  }

  /** The newest record among R replicas (a tombstone or an expired value included), as a read sees it. */
  async entry (key: Key): Promise<ReplicaEntry | undefined> {
    if (this.alone()) return await this.local.entry(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.entry(key)
    return await this.reader.entry(key, targets)
  }

  /**
   * A write of this peer's decided at `ballot`: its own copy is not current
   * below it until its own accept is in (then the ballot is chosen there);
   * each other replica that took it is told it is chosen with the next
   * request to it (ReplicaClient.learn).
   */
  private wrote (key: Key, ballot: HlcTimestamp, to: Target[], ops: Array<Promise<ApplyResult>>, epoch: number): void {
    this.leases.written(key, ballot)
    to.forEach((t, i) => {
      ops[i].then(r => {
        if (!r.applied) return
        if (t.isSelf) this.leases.chosen(key, ballot, epoch)
        else this.client.learn(t.peerId, key, ballot)
      }, () => {})
    })
  }

  /** The key's live value, read as Reader.get says. */
  async get (key: Key, options: { signal?: AbortSignal } = {}): Promise<StoredValue> {
    if (this.alone()) return await this.local.get(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.get(key)
    return await this.reader.get(key, targets, options.signal)
  }

  async put (key: Key, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ValueMeta> {
    if (this.alone()) return await this.local.put(key, body, options)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.put(key, body, options)
    const temporal = options.temporalDays
    if (temporal !== undefined && !(Number.isInteger(temporal) && temporal >= -1)) {
      throw new PmzError('ERR_BAD_REQUEST', 'temporal must be an integer >= 0, or -1 for permanent')
    }
    const { live, q1, q2, waitAll } = this.quorums(targets)
    const created = options.restored?.created ?? this.clock.now()
    const origin = this.local.nextVersion()
    const expires = options.restored !== undefined ? options.restored.expires : temporal === undefined || temporal < 0 ? null : created + temporal * DAY_MS
    const fields = { created, expires, contentType: options.contentType ?? 'application/octet-stream', origin, accept: true }
    const small = options.sizeHint !== undefined && options.sizeHint <= INLINE_MAX_BYTES
    // A small body is read first and sent whole at each ballot; a large one streams once, to be staged, after phase 1 found no duplicate.
    const bytes = small ? await readWhole(body, INLINE_MAX_BYTES, options.maxBytes) : undefined
    let written: { size: number, sha256: string } | undefined
    let staging: Promise<Staging> | undefined
    const payload: Payload = async (ballot, to, w) => {
      const put: ReplicaPut = { ...fields, version: ballot }
      if (bytes !== undefined) return (written = await this.writer.whole({ key, put, bytes, to, w }, options))
      staging ??= this.writer.staged({ key, fields, body, to, w }, options)
      const st = await staging
      written = st
      if (!st.outcome.ok) return { ops: [], outcome: { ok: false, values: [], errors: st.outcome.errors }, untouched: true }
      // The replicas of this ballot (`to`) may be fewer than those of the staging, never others: each commits its own stage.
      return await quorumOf(to.map(async t => {
        const i = st.targets.indexOf(t)
        if (i < 0) throw new PmzError('ERR_UNAVAILABLE', 'the value was not staged on this replica', { details: { key, replica: t.peerId } })
        // With the sha256 the quorum computed: a replica whose stage differs refuses to commit it (ERR_CORRUPT).
        return await this.client.commit(t, key, (await st.stages[i]).stageId, { ...put, sha256: st.sha256 })
      }), w)
    }
    const intent = options.ifAbsent === true ? { type: 'create' as const, origin } : { type: 'replace' as const, origin }
    // A replica writing a key holds read leases too (asks for them now if not), so that it reads back what it wrote alone.
    this.leases.renew(targets)
    const epoch = this.leases.epoch()
    // A value staged and not written is dropped at once (a late replica's commit of a written one still finds it; the rest expires).
    const decided = await this.register.propose({ key, intent, live, q1, q2, waitAll, n: targets.length, payload, signal: options.signal }).then(d => {
      if (d.outcome !== 'written' && staging !== undefined) this.unstage(staging)
      return d
    }, err => {
      if (staging !== undefined) this.unstage(staging)
      throw err
    })
    this.decidedAlone(key, decided)
    if (decided.outcome === 'exists') throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    const version = decided.ballot ?? decided.newest?.version ?? origin
    if (decided.ballot !== undefined && decided.ops !== undefined) this.wrote(key, decided.ballot, decided.to ?? live, decided.ops, epoch)
    if (decided.ops !== undefined) await this.handoff?.afterWrite(key, version, targets, decided.to ?? live, decided.ops)
    const size = written?.size ?? decided.newest?.size ?? 0
    const sha256 = written?.sha256 ?? decided.newest?.sha256 ?? ''
    return { key, size, sha256, contentType: fields.contentType, created, expires: fields.expires, version }
  }

  async delete (key: Key): Promise<void> {
    if (this.alone()) return await this.local.delete(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.delete(key)
    const { live, q1, q2, waitAll } = this.quorums(targets)
    this.leases.renew(targets)
    const epoch = this.leases.epoch()
    const decided = await this.register.propose({ key, intent: { type: 'delete', origin: this.local.nextVersion() }, live, q1, q2, waitAll, n: targets.length, deletedAt: this.clock.now() })
    if (decided.ballot !== undefined && decided.ops !== undefined) this.wrote(key, decided.ballot, decided.to ?? live, decided.ops, epoch)
    this.decidedAlone(key, decided)
    if (decided.outcome === 'absent') throw notFound('key not found')
    if (decided.ballot !== undefined && decided.ops !== undefined) await this.handoff?.afterWrite(key, decided.ballot, targets, decided.to ?? live, decided.ops)
  }

  /** A proposal of this peer's that phase 1 alone decided (a 409, a 404, a value already written): its floor comes down (LeaseHolder.decided). */
  private decidedAlone (key: Key, decided: Decided): void {
    if (decided.prepared?.current !== undefined) this.leases.decided(key, decided.prepared.ballot, decided.prepared.current)
  }

  /** Drops what a proposal staged and did not commit (a replica that committed holds nothing staged any more). */
  private unstage (staging: Promise<Staging>): void {
    staging.then(st => {
      st.stages.forEach((stage, i) => {
        stage.then(async s => { await this.client.unstage(st.targets[i], s.stageId) })
          .catch(err => { this.log.debug({ err, replica: st.targets[i].peerId }, 'dropping a staged value failed') })
      })
    }, () => {})
  }

  /**
   * The live replicas of a write and its two quorums: phase 1 needs
   * R = N - W + 1 promises (and waits for every live replica while the ring
   * is not settled: a new owner may lack the key), phase 2 W; R + W > N, so phase 1 always
   * meets a replica of every acknowledged write. Too few live: 503 at once.
   */
  private quorums (targets: Target[]): { live: Target[], q1: number, q2: number, waitAll: boolean } {
    const w = this.placement.w()
    const r = this.placement.n() - w + 1
    const live = targets.filter(t => t.isAlive)
    if (targets.length === 0 || live.length < Math.max(w, r)) throw quorumNotMet(live.length, Math.max(w, r), 'alive')
    return { live, q1: r, q2: w, waitAll: !this.antiEntropy.settled() }
  }

  /**
   * The live keys of every live volume peer, merged (newest version per
   * key). A replica that missed a delete may still list the key until a read
   * or anti-entropy repairs it.
   */
  async list (options: ListOptions = {}): Promise<ValueMeta[]> {
    const peers = this.placement.liveVolumePeers()
    if (peers.length === 0) return await this.local.list(options)
    const lists = await Promise.allSettled([this.local.list(options), ...peers.map(async m => await this.client.list(m.address, options))])
    const merged = new Map<string, ValueMeta>()
    for (const l of lists) {
      if (l.status === 'rejected') continue
      for (const meta of l.value) {
        const held = merged.get(meta.key)
        if (held === undefined || held.version < meta.version) merged.set(meta.key, meta)
      }
    }
    return [...merged.values()].sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0).slice(0, options.limit ?? 1000)
  }

  /** This peer's own store. */
  async stats (): Promise<StoreStats> {
    return await this.local.stats()
  }

  /** Counters of repair and handoff since start: plain numbers, no I/O (metrics). */
  replicationStats (): ReplicationStats {
    const ae = this.antiEntropy.stats()
    return {
      underReplicated: ae.underReplicated,
      repairRounds: ae.rounds,
      antiEntropy: { keys: ae.keysRepaired, bytes: ae.bytesRepaired },
      readRepair: { keys: this.repair.repaired, bytes: this.repair.repairedBytes },
      handedOff: ae.handedOff,
      hints: { pending: this.handoff?.pending() ?? 0, delivered: this.handoff?.delivered ?? 0, dropped: this.handoff?.dropped ?? 0 },
      reads: { ...this.reader.counts }
    }
  }

  /** Changes of this peer's own replicas. */
  on (event: 'key:change', fn: (change: KeyChange) => void): () => void {
    return this.local.on(event, fn)
  }
}

function isLocalOnly (targets: Target[]): boolean {
  return targets.length === 1 && targets[0].isSelf
}
