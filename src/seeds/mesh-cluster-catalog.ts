import { PmzError } from '../common/errors.js'
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Member } from '../mesh/membership/index.js'
import { mergeCatalogs, type ClusterSeed } from './catalog-merge.js'
import {
  CATALOG_REQUEST, digestOf, isDigest, parseCatalogReply, type CatalogDigest, type CatalogEntry, type CatalogReply
} from './catalog-messages.js'
import type { ClusterCatalog, ClusterCatalogComponents, ClusterCatalogEvent, ClusterCatalogInit } from './cluster-types.js'
import {
  CATALOG_FETCH_TIMEOUT_MS, CATALOG_REFRESH_MS, CATALOG_RETRY_MAX_MS, CATALOG_RETRY_MIN_MS, CATALOG_VERSION
} from './constants.js'
import { LocalEntries } from './local-entries.js'

/** The member meta field that carries a worker peer's catalog digest. */
export const META_FIELD = 'seeds'

/** A worker peer's catalog as last fetched, and the digest of its meta it was fetched for. */
interface RemoteCatalog { digest: string, entries: CatalogEntry[] }

/**
 * The cluster catalog over membership and the mesh (see {@link ClusterCatalog}).
 * Reconciles on every membership event and every refresh period: a worker
 * member whose meta digest differs from the one its cached list was fetched
 * for is asked again (one request in flight per peer, backoff on failure).
 */
export class MeshClusterCatalog implements ClusterCatalog {
  private readonly log: Logger
  private readonly clock: Clock
  private readonly describer: LocalEntries
  private readonly remote = new Map<string, RemoteCatalog>()
  private readonly fetching = new Set<string>()
  private readonly backoff = new Map<string, { at: number, delayMs: number }>()
  private readonly listeners = new Set<(e: ClusterCatalogEvent) => void>()
  private readonly unsubscribe: Array<() => void> = []
  // An empty digest hash, so that the first description is always published.
  private local: { entries: CatalogEntry[], digest: CatalogDigest } = { entries: [], digest: { hash: '', count: 0 } }
  private view: ClusterSeed[] = []
  private viewJson = '[]'
  private timer: Timer | undefined
  private describing: Promise<void> | undefined
  private describeAgain = false
  private running = false

  constructor (private readonly c: ClusterCatalogComponents, private readonly init: ClusterCatalogInit = {}) {
    this.log = c.log
    this.clock = c.clock
    this.describer = new LocalEntries(c.log)
  }

  private get contributes (): boolean { return this.init.contribute ?? true }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.unsubscribe.push(this.c.mesh.handle(CATALOG_REQUEST.type, req => this.answer(req.msg)))
    if (this.contributes) {
      await this.describe()
      this.unsubscribe.push(this.c.local.on('seed:change', () => { this.describeSoon() }))
    }
    this.unsubscribe.push(this.c.membership.on('peer:change', () => { this.reconcile() }))
    this.timer = this.clock.setInterval(() => {
      if (this.contributes) this.describeSoon() // sidecars change without a seed event
      this.reconcile()
    }, this.init.refreshIntervalMs ?? CATALOG_REFRESH_MS)
    this.reconcile()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.timer?.cancel()
    for (const off of this.unsubscribe.splice(0)) off()
    await this.describing?.catch(() => {})
    this.listeners.clear()
  }

  list (): ClusterSeed[] { return this.view }

  get (name: string): ClusterSeed | undefined { return this.view.find(s => s.name === name) }

  on (_event: 'catalog:change', fn: (e: ClusterCatalogEvent) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /** `seeds.catalog`: this peer's entries (none when it is no worker). */
  private answer (msg: unknown): CatalogReply {
    const v = (msg as { v?: unknown } | null)?.v
    if (v !== CATALOG_VERSION) throw new PmzError('ERR_BAD_REQUEST', `seeds.catalog version ${String(v)}, expected ${CATALOG_VERSION}`)
    return { type: 'seeds.catalog-reply', v: CATALOG_VERSION, digest: this.local.digest, entries: this.local.entries }
  }

  /** Describes the local seeds again after the current pass, if one runs; logs (not throws) failures. */
  private describeSoon (): void {
    if (!this.running) return
    if (this.describing !== undefined) {
      this.describeAgain = true
      return
    }
    this.describe().catch(err => this.log.warn({ err }, 'describing the local seeds failed'))
  }

  private async describe (): Promise<void> {
    this.describing = (async () => {
      do {
        this.describeAgain = false
        const entries = await this.describer.describe(this.c.local.list())
        const digest = digestOf(entries)
        if (digest.hash === this.local.digest.hash) continue
        this.local = { entries, digest }
        if (this.running) this.c.membership.updateMeta({ [META_FIELD]: digest })
        this.recompute()
      } while (this.describeAgain && this.running)
    })().finally(() => { this.describing = undefined })
    await this.describing
  }

  private reconcile (): void {
    if (!this.running) return
    const self = this.c.membership.peerId
    const workers = new Map<string, Member>()
    for (const m of this.c.membership.alive()) {
      if (m.peerId !== self && m.meta.roles.includes('worker')) workers.set(m.peerId, m)
    }
    let changed = false
    for (const peerId of [...this.remote.keys()]) {
      if (workers.has(peerId)) continue
      this.remote.delete(peerId)
      this.backoff.delete(peerId)
      changed = true
    }
    const now = this.clock.now()
    for (const m of workers.values()) {
      const digest = m.meta[META_FIELD]
      if (!isDigest(digest) || this.remote.get(m.peerId)?.digest === digest.hash) continue
      if (digest.count === 0) {
        this.remote.set(m.peerId, { digest: digest.hash, entries: [] })
        changed = true
      } else if (!this.fetching.has(m.peerId) && (this.backoff.get(m.peerId)?.at ?? 0) <= now) {
        this.fetch(m, digest.hash)
      }
    }
    if (changed) this.recompute()
  }

  private fetch (member: Member, digest: string): void {
    const { peerId } = member
    this.fetching.add(peerId)
    this.c.mesh.request(member.address, CATALOG_REQUEST, { timeoutMs: this.init.fetchTimeoutMs ?? CATALOG_FETCH_TIMEOUT_MS })
      .then(reply => {
        const parsed = parseCatalogReply(reply.msg)
        if (!parsed.ok) throw new Error(parsed.reason)
        this.backoff.delete(peerId)
        if (!this.running) return
        // Kept under the digest it was asked for: a newer list waits for the meta that announces it.
        this.remote.set(peerId, { digest, entries: parsed.reply.entries })
        this.recompute()
      })
      .catch(err => {
        const delayMs = Math.min(CATALOG_RETRY_MAX_MS, 2 * (this.backoff.get(peerId)?.delayMs ?? CATALOG_RETRY_MIN_MS / 2))
        this.backoff.set(peerId, { at: this.clock.now() + delayMs, delayMs })
        this.log.debug({ err, member: peerId, retryMs: delayMs }, 'fetching a peer\'s seeds catalog failed')
      })
      .finally(() => {
        this.fetching.delete(peerId)
        this.reconcile()
      })
  }

  private recompute (): void {
    const catalogs = new Map<string, readonly CatalogEntry[]>()
    if (this.contributes) catalogs.set(this.c.membership.peerId, this.local.entries)
    for (const [peerId, r] of this.remote) catalogs.set(peerId, r.entries)
    const view = mergeCatalogs(catalogs)
    const json = JSON.stringify(view)
    if (json === this.viewJson) return
    this.view = view
    this.viewJson = json
    for (const fn of this.listeners) {
      try {
        fn({ type: 'change', seeds: view })
      } catch (err) {
        this.log.error({ err }, 'catalog:change listener failed')
      }
    }
  }
}
