import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { Membership } from '../mesh/membership/index.js'
import type { CatalogReply, CatalogRequest } from './catalog-messages.js'
import type { ClusterSeed } from './catalog-merge.js'
import type { SeedCatalog } from './types.js'

/**
 * The mesh as the cluster catalog needs it: asking a peer for its catalog and
 * answering such requests. The mesh transport fits it (`node.ts` passes it);
 * seeds does not import the transport layer.
 */
export interface CatalogMesh {
  /** Sends a request to the mesh address `to`; rejects on a timeout or an unreachable peer. */
  request(to: string, msg: CatalogRequest, options?: { timeoutMs?: number }): Promise<{ msg: unknown }>
  /** Registers the handler of `seeds.catalog` requests; returns a function that removes it. */
  handle(type: string, handler: (req: { msg: unknown }) => CatalogReply | Promise<CatalogReply>): () => void
}

/** A change of the cluster catalog: the whole list after it. */
export interface ClusterCatalogEvent { type: 'change', seeds: ClusterSeed[] }

/**
 * Every seed of the cluster's worker peers, each once, with the peers that
 * hold it and at which content hash. Each worker peer puts a digest of its
 * own catalog in its member meta (`seeds: {hash, count}`) and others fetch
 * the whole list from it with a `seeds.catalog` request when the digest
 * changes: gossip stays small whatever the number of seeds. A dead or left
 * peer's seeds are dropped with it.
 */
export interface ClusterCatalog extends Startable {
  /** Every seed, by name order. */
  list(): ClusterSeed[]
  get(name: string): ClusterSeed | undefined
  /** Called after each change of the list. Returns the unsubscribe function. */
  on(event: 'catalog:change', fn: (e: ClusterCatalogEvent) => void): () => void
}

export interface ClusterCatalogComponents {
  /** This peer's own seeds. */
  local: SeedCatalog
  membership: Membership
  mesh: CatalogMesh
  clock: Clock
  log: Logger
}

export interface ClusterCatalogInit {
  /** This peer has the worker role: its seeds count (others only watch). @default true */
  contribute?: boolean
  /** Period of sidecar re-reads and of retries towards peers that could not be fetched, in ms. @default 1000 */
  refreshIntervalMs?: number
  /** Deadline of one `seeds.catalog` request, in ms. @default 5000 */
  fetchTimeoutMs?: number
}
