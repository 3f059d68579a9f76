import type { ClusterCatalog, ClusterCatalogComponents, ClusterCatalogInit } from './cluster-types.js'
import { MeshClusterCatalog } from './mesh-cluster-catalog.js'
import type { SeedCatalog, SeedCatalogComponents, SeedCatalogInit } from './types.js'
import { WatchingSeedCatalog } from './watching-catalog.js'

export type { SeedKind, Seed, SeedEvent, SeedCatalog, SeedCatalogComponents, SeedCatalogInit } from './types.js'
export type { CatalogMesh, ClusterCatalog, ClusterCatalogComponents, ClusterCatalogEvent, ClusterCatalogInit } from './cluster-types.js'
export type { ClusterSeed } from './catalog-merge.js'
export type { CatalogDigest, CatalogEntry } from './catalog-messages.js'
export type { SeedMeta } from './seed-meta.js'
export type { SeedLimits } from './seed-limits.js'
export type { StageDecl, StageIsolation } from './seed-stage.js'
export { isTag, stageEventHandlers, stageRunOf, TAG_PATTERN } from './seed-stage.js'

export function createSeedCatalog (components: SeedCatalogComponents, init: SeedCatalogInit): SeedCatalog {
  return new WatchingSeedCatalog(components, init)
}

/** The catalog of every worker peer's seeds, gossiped as a digest in member meta and fetched over the mesh. */
export function createClusterCatalog (components: ClusterCatalogComponents, init: ClusterCatalogInit = {}): ClusterCatalog {
  return new MeshClusterCatalog(components, init)
}
