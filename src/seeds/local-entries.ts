import { readFile, stat } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import type { Logger } from '../common/logger.js'
import type { CatalogEntry } from './catalog-messages.js'
import { EMPTY_META, moduleMeta, pythonMeta, sidecarMeta, type SeedMeta } from './seed-meta.js'
import type { Seed } from './types.js'

/** `tools/resize.sh` -> `tools/resize.json`: where an executable's description lives. */
export function sidecarPath (path: string): string {
  return join(dirname(path), `${basename(path, extname(path))}.json`)
}

/**
 * Describes this peer's seeds as catalog entries. A Pulzar script's text is
 * read once per content hash; an executable's sidecar once per change of its
 * size or mtime (a sidecar is no seed: the seeds catalog does not see it
 * change, so {@link describe} is also called periodically).
 */
export class LocalEntries {
  private readonly python = new Map<string, SeedMeta>()
  private readonly sidecars = new Map<string, { stamp: string, meta: SeedMeta }>()

  constructor (private readonly log: Logger) {}

  /** Entries for `seeds` (given in name order), in the same order. */
  async describe (seeds: Seed[]): Promise<CatalogEntry[]> {
    const live = new Set<string>()
    const entries: CatalogEntry[] = []
    for (const seed of seeds) {
      live.add(seed.kind === 'python' ? seed.hash : seed.path)
      const meta = await this.metaOf(seed)
      const entry: CatalogEntry = { name: seed.name, kind: seed.kind, hash: seed.hash, meta }
      if (seed.error !== undefined) entry.error = seed.error
      entries.push(entry)
    }
    // Forget what no seed needs any more.
    for (const key of this.python.keys()) if (!live.has(key)) this.python.delete(key)
    for (const key of this.sidecars.keys()) if (!live.has(key)) this.sidecars.delete(key)
    return entries
  }

  private async metaOf (seed: Seed): Promise<SeedMeta> {
    if (seed.kind === 'module') return moduleMeta(seed.exports)
    if (seed.kind === 'python') return await this.pythonMetaOf(seed)
    return await this.sidecarMetaOf(seed)
  }

  private async pythonMetaOf (seed: Seed): Promise<SeedMeta> {
    const known = this.python.get(seed.hash)
    if (known !== undefined) return known
    let meta: SeedMeta
    try {
      meta = pythonMeta(await readFile(seed.path, 'utf8'))
    } catch (err) {
      // Removed or replaced since the scan: the next change describes it again.
      this.log.debug({ err, seed: seed.name }, 'cannot read a Pulzar script for its docstring')
      return { ...EMPTY_META }
    }
    this.python.set(seed.hash, meta)
    return meta
  }

  private async sidecarMetaOf (seed: Seed): Promise<SeedMeta> {
    const path = sidecarPath(seed.path)
    if (path === seed.path) return { ...EMPTY_META }
    const s = await stat(path).catch(() => undefined)
    if (s === undefined || !s.isFile()) {
      this.sidecars.delete(seed.path)
      return { ...EMPTY_META }
    }
    const stamp = `${s.size}:${s.mtimeMs}`
    const known = this.sidecars.get(seed.path)
    if (known?.stamp === stamp) return known.meta
    let meta: SeedMeta
    try {
      meta = sidecarMeta(await readFile(path, 'utf8'))
    } catch (err) {
      this.log.warn({ seed: seed.name, path, error: (err as Error).message }, 'seed sidecar ignored: not a JSON object')
      meta = { ...EMPTY_META }
    }
    this.sidecars.set(seed.path, { stamp, meta })
    return meta
  }
}
