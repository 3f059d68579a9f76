import type { CatalogEntry } from './catalog-messages.js'
import type { SeedLimits } from './seed-limits.js'
import type { SeedMeta } from './seed-meta.js'
import type { StageDecl } from './seed-stage.js'
import type { SeedKind } from './types.js'

/** One seed as the whole cluster has it: which worker peers hold it, at which content hash. */
export interface ClusterSeed {
  name: string
  /** Kind of the main version (the hash most peers hold). */
  kind: SeedKind
  /** The main version's content hash: the one most holders have (ties: the smallest hash). */
  hash: string
  /** The main version's declared meta. */
  meta: SeedMeta
  /** The main version's declared limits ({} when none). */
  limits: SeedLimits
  /** The main version's `schedule` declaration, unchecked (the jobs layer registers it). */
  schedule?: Record<string, unknown>
  /** The main version's pipeline declaration: the seed is a stage (issue 17). */
  pipeline?: StageDecl
  /** Every peer holding the seed, at any hash, sorted. */
  peers: string[]
  /** Holders by content hash; more than one key when peers disagree on the seed's content. */
  hashes: Record<string, string[]>
  /** Holders whose copy cannot run, with the reason (a module's load error). */
  errors: Record<string, string>
  /** Some holder can run it. */
  launchable: boolean
  /** When no holder can run it: the main version's reason. */
  error?: string
}

/**
 * Merges the catalogs of worker peers (peer id -> its entries) into one list
 * of seeds, by name order. Pure: the cluster catalog calls it on each change.
 */
export function mergeCatalogs (catalogs: ReadonlyMap<string, readonly CatalogEntry[]>): ClusterSeed[] {
  const byName = new Map<string, Array<{ peerId: string, entry: CatalogEntry }>>()
  for (const [peerId, entries] of catalogs) {
    for (const entry of entries) {
      const holders = byName.get(entry.name) ?? []
      holders.push({ peerId, entry })
      byName.set(entry.name, holders)
    }
  }
  const names = [...byName.keys()].sort(compare)
  return names.map(name => mergeOne(name, byName.get(name) ?? []))
}

function mergeOne (name: string, holders: Array<{ peerId: string, entry: CatalogEntry }>): ClusterSeed {
  holders.sort((a, b) => compare(a.peerId, b.peerId))
  const hashes: Record<string, string[]> = {}
  const errors: Record<string, string> = {}
  for (const { peerId, entry } of holders) {
    (hashes[entry.hash] ??= []).push(peerId)
    if (entry.error !== undefined) errors[peerId] = entry.error
  }
  const main = Object.keys(hashes).sort((a, b) => hashes[b].length - hashes[a].length || compare(a, b))[0]
  // The main version's description: from a holder that can run it when there is one.
  const mainHolders = holders.filter(h => h.entry.hash === main)
  const { entry } = mainHolders.find(h => h.entry.error === undefined) ?? mainHolders[0]
  const launchable = holders.some(h => h.entry.error === undefined)
  const seed: ClusterSeed = {
    name, kind: entry.kind, hash: main, meta: entry.meta, limits: entry.limits ?? {}, peers: holders.map(h => h.peerId), hashes, errors, launchable
  }
  if (entry.schedule !== undefined) seed.schedule = entry.schedule
  if (entry.pipeline !== undefined) seed.pipeline = entry.pipeline
  if (!launchable) seed.error = entry.error
  return seed
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
