import type { SeedCatalog, SeedCatalogComponents, SeedCatalogInit } from './types.js'
import { WatchingSeedCatalog } from './watching-catalog.js'

export type { SeedKind, Seed, SeedEvent, SeedCatalog, SeedCatalogComponents, SeedCatalogInit } from './types.js'

export function createSeedCatalog (components: SeedCatalogComponents, init: SeedCatalogInit): SeedCatalog {
  return new WatchingSeedCatalog(components, init)
}
