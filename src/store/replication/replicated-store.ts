import type { Clock } from '../../common/clock.js'
import { PmzError, notFound } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { Transport } from '../../mesh/transport/index.js'
import { DAY_MS } from '../constants.js'
import { validateKey } from '../key.js'
import { entryToMeta, isLiveEntry, type ReplicaEntry, type ValueMeta } from '../record.js'
import type { KeyChange, ListOptions, PutOptions, ReplicaPut, ReplicaStore, RingStatus, Store, StoreStats, StoredValue } from '../types.js'
import { INLINE_MAX_BYTES, SURVEY_SPECULATE_MS } from './constants.js'
import { AntiEntropy, type AntiEntropyInit } from './anti-entropy.js'
import { HintedHandoff } from './hints.js'
import { Placement, type Target } from './placement.js'
import { waitQuorum } from './quorum.js'
import { ReadRepair, newestOf, type SurveyAnswer } from './read-repair.js'
import { ReplicaClient } from './replica-client.js'
import { ReplicaWriter, readWhole } from './replica-writer.js'
import { serveReplica } from './replica-server.js'

export interface ReplicatedStoreComponents {
  /** This peer's own store; it holds data only when this peer is on the ring (volume role). */
  local: ReplicaStore
  transport: Transport
  membership: Membership
  clock: Clock
  log: Logger
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
  readonly repair: ReadRepair
  readonly antiEntropy: AntiEntropy
  readonly handoff: HintedHandoff | undefined
  private readonly writer: ReplicaWriter
  private offs: Array<() => void> = []
  private started = false

  constructor (private readonly c: ReplicatedStoreComponents, init: ReplicatedStoreInit = {}) {
    this.local = c.local
    this.clock = c.clock
    this.log = c.log
    this.placement = new Placement(c.membership, init.replicas ?? 3, init.writeQuorum ?? 2)
    this.client = new ReplicaClient(c.transport, c.local)
    this.repair = new ReadRepair(this.client, c.clock, c.log)
    this.writer = new ReplicaWriter({ client: this.client, local: c.local, membership: c.membership, clock: c.clock, log: c.log })
    this.antiEntropy = new AntiEntropy({ local: c.local, client: this.client, placement: this.placement, membership: c.membership, transport: c.transport, clock: c.clock, log: c.log }, init.antiEntropy)
    this.handoff = init.hintsDir === undefined
      ? undefined
      : new HintedHandoff({ client: this.client, placement: this.placement, membership: c.membership, clock: c.clock, log: c.log }, { dir: init.hintsDir, maxAgeMs: init.hintMaxAgeMs ?? 168 * 3_600_000 })
  }

  async start (): Promise<void> {
    if (this.started) return
    await this.local.start()
    this.started = true
    this.placement.refresh()
    await this.handoff?.start()
    this.offs = [
      serveReplica(this.c.transport, this.local, this.log),
      this.c.membership.on('peer:change', () => { this.placement.refresh() })
    ]
    this.antiEntropy.start()
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const off of this.offs.splice(0)) off()
    await this.antiEntropy.stop()
    await this.repair.idle()
    await this.handoff?.stop()
    await this.local.stop()
  }

  /** The ring and the repair state (admin/ring). */
  async ringStatus (): Promise<RingStatus> {
    return await this.antiEntropy.status()
  }

  /** The HTTP base URL of a live replica of `key` other than this peer; undefined when this peer is one (or none is known). */
  ownerUrl (key: string): string | undefined {
    const first = this.placement.readOrder(key)[0]
    return first === undefined || first.isSelf || first.http === '' ? undefined : first.http
  }

  async stat (key: string): Promise<ValueMeta | undefined> {
    if (this.placement.selfOnly()) return await this.local.stat(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.stat(key)
    const newest = newestOf(await this.survey(key, targets))
    return isLiveEntry(newest, this.clock.now()) ? entryToMeta(newest) : undefined
  }

  /**
   * Surveys the replicas; on a peer that holds no copy, the first replica
   * asked answers with the bytes of a small value too (`fetch`), so a read
   * through any gateway usually takes one round trip: those bytes when they
   * are the newest version, else this peer's own copy, else a read from the
   * nearest holder (the first to answer).
   */
  async get (key: string, options: { signal?: AbortSignal } = {}): Promise<StoredValue> {
    if (this.placement.selfOnly()) return await this.local.get(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.get(key)
    const answers = await this.survey(key, targets, { fetch: true })
    const newest = newestOf(answers)
    if (!isLiveEntry(newest, this.clock.now())) throw notFound('key not found')
    const holders = answers.filter(a => a.entry?.version === newest.version)
    const inline = holders.find(a => a.bytes !== undefined)
    if (inline?.bytes !== undefined) return { meta: entryToMeta(newest), body: inline.bytes }
    holders.sort((a, b) => Number(b.target.isSelf) - Number(a.target.isSelf))
    let lastErr: unknown
    for (const a of holders) {
      try {
        return await this.client.read(a.target, key, options.signal)
      } catch (err) {
        lastErr = err
        this.log.warn({ err, key, replica: a.target.peerId }, 'replica read failed, trying the next')
      }
    }
    throw lastErr ?? new PmzError('ERR_UNAVAILABLE', 'no replica could serve the key', { details: { key } })
  }

  async put (key: string, body: AsyncIterable<Uint8Array>, options: PutOptions = {}): Promise<ValueMeta> {
    if (this.placement.selfOnly()) return await this.local.put(key, body, options)
    validateKey(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.put(key, body, options)
    const temporal = options.temporalDays
    if (temporal !== undefined && !(Number.isInteger(temporal) && temporal >= -1)) {
      throw new PmzError('ERR_BAD_REQUEST', 'temporal must be an integer >= 0, or -1 for permanent')
    }
    const w = this.placement.w()
    const live = targets.filter(t => t.isAlive)
    if (targets.length === 0 || live.length < w) throw quorumNotMet(live.length, w)
    const created = this.clock.now()
    const put: ReplicaPut = {
      version: this.local.nextVersion(),
      created,
      expires: temporal === undefined || temporal < 0 ? null : created + temporal * DAY_MS,
      contentType: options.contentType ?? 'application/octet-stream',
      ...(options.ifAbsent === true ? { ifAbsent: true } : {})
    }
    // Pulzar's duplicate rule, cluster-wide, without a round trip of its own:
    // each replica refuses the write when it holds a live value, and the write
    // waits for R = N - W + 1 answers too, so that one of them took part in
    // any earlier acknowledged write of the key.
    const need = options.ifAbsent === true ? Math.max(w, this.placement.n() - w + 1) : w
    // While the ring is not settled a replica may lack the first value: the others must all have answered then.
    const careful = options.ifAbsent === true && !this.antiEntropy.settled()
    const small = options.sizeHint !== undefined && options.sizeHint <= INLINE_MAX_BYTES
    if (options.ifAbsent === true && !small) {
      // A large body is not read at all for a duplicate: ask first.
      const now = this.clock.now()
      const answers = await this.survey(key, targets, { enough: a => isLiveEntry(a.entry, now) })
      if (answers.some(a => isLiveEntry(a.entry, now))) throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    }
    const written = small
      ? await this.writer.whole(key, put, await readWhole(body, INLINE_MAX_BYTES, options.maxBytes), live, need, careful, options.signal)
      : await this.writer.streamed(key, put, body, live, need, careful, options)
    const { outcome } = written
    if (!outcome.ok && outcome.stoppedBy?.conflict === true) {
      await this.writer.restore(key, put, outcome.stoppedBy.entry as ReplicaEntry, live, written.ops)
      throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    }
    if (!outcome.ok) {
      await this.writer.compensate(key, live)
      throw quorumNotMet(outcome.values.length, w, outcome.errors)
    }
    await this.handoff?.afterWrite(key, put.version, targets, live, written.ops)
    return { key, size: written.size, sha256: written.sha256, contentType: put.contentType, created: put.created, expires: put.expires, version: put.version }
  }

  async delete (key: string): Promise<void> {
    if (this.placement.selfOnly()) return await this.local.delete(key)
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.delete(key)
    const w = this.placement.w()
    const live = targets.filter(t => t.isAlive)
    if (targets.length === 0 || live.length < w) throw quorumNotMet(live.length, w)
    const newest = newestOf(await this.survey(key, targets))
    if (!isLiveEntry(newest, this.clock.now())) throw notFound('key not found')
    const version = this.local.nextVersion()
    const deletedAt = this.clock.now()
    const ops = live.map(async t => await this.client.tombstone(t, key, version, deletedAt))
    const outcome = await waitQuorum(ops, w)
    if (!outcome.ok) throw quorumNotMet(outcome.values.length, w, outcome.errors)
    await this.handoff?.afterWrite(key, version, targets, live, ops)
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

  /** Changes of this peer's own replicas. */
  on (event: 'key:change', fn: (change: KeyChange) => void): () => void {
    return this.local.on(event, fn)
  }

  /**
   * Asks R = N - W + 1 live replicas (self first, then by preference; all of
   * them while the ring is not settled, see AntiEntropy.settled) for
   * their record of the key (`fetch`: the first remote one, when self is not
   * a replica, with the bytes of a small live value too),
   * so that at least one of them took part in any acknowledged write; a
   * replica that fails is replaced by the next one, and one that is slow
   * (SURVEY_SPECULATE_MS) by all the others. Resolves once R answered, or
   * sooner when an answer is `enough`. Read repair runs over the answers
   * once every replica asked answered or failed.
   */
  private async survey (key: string, targets: Target[], how: { fetch?: boolean, enough?: (a: SurveyAnswer) => boolean } = {}): Promise<SurveyAnswer[]> {
    const order = this.placement.readOrder(key, targets)
    const r = this.placement.n() - this.placement.w() + 1
    // Until anti-entropy has confirmed every replica since the ring changed, R answers prove nothing absent: wait for them all.
    const wanted = this.antiEntropy.settled() ? r : order.length
    return await new Promise((resolve, reject) => {
      const answers: SurveyAnswer[] = []
      let asked = 0
      let pending = 0
      let settled = false
      const settle = (): void => {
        if (settled) return
        settled = true
        speculate.cancel()
        if (answers.length >= r || answers.some(a => how.enough?.(a) === true)) resolve([...answers])
        else reject(new PmzError('ERR_QUORUM_NOT_MET', `${answers.length} replicas answered, ${r} needed`, { details: { key, answered: answers.length, readQuorum: r } }))
      }
      // The bytes of a small value come from one replica, and only when this peer holds none itself.
      const wantBytes = how.fetch === true && !order.some(t => t.isSelf)
      let bytesAsked = false
      const ask = (): void => {
        const t = order[asked++]
        pending++
        const fetch = wantBytes && !bytesAsked
        if (fetch) bytesAsked = true
        const question = fetch ? this.client.fetch(t, key) : this.client.entry(t, key).then(entry => ({ entry }))
        question.then(a => {
          const answer: SurveyAnswer = { target: t, ...a }
          answers.push(answer)
          if (answers.length >= wanted || how.enough?.(answer) === true) settle()
        }, () => {
          if (fetch) bytesAsked = false
          if (!settled && asked < order.length) ask()
        }).finally(() => {
          if (--pending > 0) return
          settle()
          this.repair.schedule(key, answers, newestOf(answers))
        })
      }
      const speculate = this.clock.setTimeout(() => { while (!settled && asked < order.length) ask() }, SURVEY_SPECULATE_MS)
      if (order.length === 0) settle()
      while (asked < Math.min(wanted, order.length)) ask()
    })
  }

}

function isLocalOnly (targets: Target[]): boolean {
  return targets.length === 1 && targets[0].isSelf
}

function quorumNotMet (acks: number, w: number, errors: unknown[] = []): PmzError {
  const codes = errors.map(e => (e as { code?: string }).code ?? 'ERR_INTERNAL')
  return new PmzError('ERR_QUORUM_NOT_MET', `${acks} of ${w} required replicas acknowledged`, { details: { acks, writeQuorum: w, errors: codes } })
}
