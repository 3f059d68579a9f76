import { createHash } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import { PmzError, notFound } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { Transport } from '../../mesh/transport/index.js'
import { DAY_MS } from '../constants.js'
import { validateKey } from '../key.js'
import { entryToMeta, isLiveEntry, type ValueMeta } from '../record.js'
import type { ApplyResult, KeyChange, ListOptions, PutOptions, ReplicaPut, ReplicaStore, RingStatus, Store, StoreStats, StoredValue } from '../types.js'
import { FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS } from './constants.js'
import { AntiEntropy, type AntiEntropyInit } from './anti-entropy.js'
import { FanoutSink, fanOut } from './fanout.js'
import { HintedHandoff } from './hints.js'
import { Placement, type Target } from './placement.js'
import { waitQuorum } from './quorum.js'
import { ReadRepair, newestOf, type SurveyAnswer } from './read-repair.js'
import { ReplicaClient } from './replica-client.js'
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
 * over the volume peers, N copies each. Writes stream once from the client,
 * fanned out to the live replicas, and are acknowledged after W commits;
 * reads survey the replicas' records (R = N - W + 1 answers, so an
 * acknowledged write is always seen), take the newest by HLC, read the bytes
 * from the nearest replica holding it, and repair the stale ones.
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
  private offs: Array<() => void> = []
  private started = false

  constructor (private readonly c: ReplicatedStoreComponents, init: ReplicatedStoreInit = {}) {
    this.local = c.local
    this.clock = c.clock
    this.log = c.log
    this.placement = new Placement(c.membership, init.replicas ?? 3, init.writeQuorum ?? 2)
    this.client = new ReplicaClient(c.transport, c.local)
    this.repair = new ReadRepair(this.client, c.clock, c.log)
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
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.stat(key)
    const answers = await this.survey(key)
    const newest = newestOf(answers)
    this.repair.schedule(key, answers, newest)
    return isLiveEntry(newest, this.clock.now()) ? entryToMeta(newest) : undefined
  }

  async get (key: string, options: { signal?: AbortSignal } = {}): Promise<StoredValue> {
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.get(key)
    const answers = await this.survey(key)
    const newest = newestOf(answers)
    this.repair.schedule(key, answers, newest)
    if (!isLiveEntry(newest, this.clock.now())) throw notFound('key not found')
    let lastErr: unknown
    for (const a of answers) {
      if (a.entry?.version !== newest.version) continue
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
    if (options.ifAbsent === true) {
      // Pulzar's duplicate rule, cluster-wide: a live value at any surveyed replica is a conflict.
      const answers = await this.survey(key)
      if (answers.some(a => isLiveEntry(a.entry, this.clock.now()))) throw new PmzError('ERR_CONFLICT', 'key already exists', { details: { key } })
    }
    const created = this.clock.now()
    const put: ReplicaPut = {
      version: this.local.nextVersion(),
      created,
      expires: temporal === undefined || temporal < 0 ? null : created + temporal * DAY_MS,
      contentType: options.contentType ?? 'application/octet-stream'
    }
    const controllers = live.map(() => new AbortController())
    const sinks = live.map((t, i) => new FanoutSink(this.clock, FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS, () => {
      this.log.warn({ key, replica: t.peerId }, 'replica stalled, dropped from the write')
      controllers[i].abort(new PmzError('ERR_TIMEOUT', 'replica stalled'))
    }))
    const ops = live.map(async (t, i) => {
      const signal = options.signal === undefined ? controllers[i].signal : AbortSignal.any([controllers[i].signal, options.signal])
      try {
        return await this.client.put(t, key, sinks[i], put, { maxBytes: options.maxBytes, sizeHint: options.sizeHint, signal })
      } catch (err) {
        this.log.debug({ err, key, replica: t.peerId }, 'replicated put failed')
        throw err
      } finally {
        sinks[i].cancel()
      }
    })
    for (const op of ops) op.catch(() => {}) // observed by waitQuorum below
    // A replica declared dead mid-write is dropped at once rather than after SINK_STALL_MS.
    const offDeath = this.c.membership.on('peer:change', e => {
      if (e.type !== 'dead' && e.type !== 'leave') return
      const i = live.findIndex(t => t.peerId === e.member.peerId)
      if (i < 0) return
      sinks[i].cancel()
      controllers[i].abort(new PmzError('ERR_UNAVAILABLE', 'replica died during the write'))
    })
    const hash = createHash('sha256')
    let size: number
    let outcome: Awaited<ReturnType<typeof waitQuorum<ApplyResult>>>
    try {
      try {
        size = await fanOut(hashing(body, hash), sinks, { maxBytes: options.maxBytes ?? Infinity, minSinks: w, signal: options.signal })
      } catch (err) {
        // No replica saw a clean end of the body, so none can commit it.
        for (const ctl of controllers) ctl.abort(err)
        throw err
      }
      outcome = await waitQuorum(ops, w)
    } finally {
      offDeath()
    }
    if (!outcome.ok) {
      await this.compensate(key, live)
      throw quorumNotMet(outcome.values.length, w, outcome.errors)
    }
    await this.handoff?.afterWrite(key, put.version, targets, live, ops)
    return { key, size, sha256: hash.digest('hex'), contentType: put.contentType, created: put.created, expires: put.expires, version: put.version }
  }

  async delete (key: string): Promise<void> {
    const targets = this.placement.targets(key)
    if (isLocalOnly(targets)) return await this.local.delete(key)
    const w = this.placement.w()
    const live = targets.filter(t => t.isAlive)
    if (targets.length === 0 || live.length < w) throw quorumNotMet(live.length, w)
    const newest = newestOf(await this.survey(key))
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
   * Every live replica's record of the key. Needs R = N - W + 1 answers, so
   * that at least one of them took part in any acknowledged write.
   */
  private async survey (key: string): Promise<SurveyAnswer[]> {
    const order = this.placement.readOrder(key)
    const r = this.placement.n() - this.placement.w() + 1
    const settled = await Promise.allSettled(order.map(async t => await this.client.entry(t, key)))
    const answers: SurveyAnswer[] = []
    settled.forEach((s, i) => { if (s.status === 'fulfilled') answers.push({ target: order[i], entry: s.value }) })
    if (answers.length < r) {
      throw new PmzError('ERR_QUORUM_NOT_MET', `${answers.length} replicas answered, ${r} needed`, { details: { key, answered: answers.length, readQuorum: r } })
    }
    return answers
  }

  /** After a failed write: a newer tombstone to every live replica, so no partial copy stays visible (LWW drops a copy still landing). */
  private async compensate (key: string, live: Target[]): Promise<void> {
    const version = this.local.nextVersion()
    const now = this.clock.now()
    const results = await Promise.allSettled(live.map(async t => await this.client.tombstone(t, key, version, now)))
    const failed = results.filter(r => r.status === 'rejected').length
    if (failed > 0) this.log.warn({ key, failed }, 'compensating tombstone did not reach every replica')
  }
}

function isLocalOnly (targets: Target[]): boolean {
  return targets.length === 1 && targets[0].isSelf
}

function quorumNotMet (acks: number, w: number, errors: unknown[] = []): PmzError {
  const codes = errors.map(e => (e as { code?: string }).code ?? 'ERR_INTERNAL')
  return new PmzError('ERR_QUORUM_NOT_MET', `${acks} of ${w} required replicas acknowledged`, { details: { acks, writeQuorum: w, errors: codes } })
}

async function * hashing (body: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>): AsyncIterable<Uint8Array> {
  for await (const piece of body) {
    hash.update(piece)
    yield piece
  }
}
