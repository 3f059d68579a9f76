import { readFile, stat } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import type { Logger } from '../common/logger.js'
import type { CatalogEntry } from './catalog-messages.js'
import { declaredSchedule, limitsFrom, moduleLimits, type SeedLimits } from './seed-limits.js'
import { EMPTY_META, moduleMeta, pythonMeta, sidecarMeta, type SeedMeta } from './seed-meta.js'
import { moduleStage, sidecarStage, type StageDecl } from './seed-stage.js'
import type { Seed } from './types.js'

/** What a seed says of itself: its meta, its limits, schedule and pipeline declaration, or why one of them cannot be used. */
interface Described { meta: SeedMeta, limits?: SeedLimits, schedule?: Record<string, unknown>, pipeline?: StageDecl, error?: string }

/**
 * A seed's meta with the limits, schedule and pipeline declaration it
 * declares in `source` (a module's exports, a sidecar); a bad declaration is
 * its error.
 */
function declared (meta: SeedMeta, source: Readonly<Record<string, unknown>> | undefined, limits: ReturnType<typeof limitsFrom>, stage: ReturnType<typeof moduleStage>, where: string): Described {
  if (!limits.ok) return { meta, error: `bad limits${where}: ${limits.error}` }
  const schedule = declaredSchedule(source)
  if (!schedule.ok) return { meta, error: `bad schedule${where}: ${schedule.error}` }
  if (!stage.ok) return { meta, error: `bad pipeline declaration${where}: ${stage.error}` }
  return {
    meta,
    limits: limits.limits,
    ...(schedule.schedule !== undefined ? { schedule: schedule.schedule } : {}),
    ...(stage.stage !== undefined ? { pipeline: stage.stage } : {})
  }
}

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
  private readonly sidecars = new Map<string, { stamp: string } & Described>()

  constructor (private readonly log: Logger) {}

  /** Entries for `seeds` (given in name order), in the same order. */
  async describe (seeds: Seed[]): Promise<CatalogEntry[]> {
    const live = new Set<string>()
    const entries: CatalogEntry[] = []
    for (const seed of seeds) {
      live.add(seed.kind === 'python' ? seed.hash : seed.path)
      const { meta, limits, schedule, pipeline, error } = await this.describeOne(seed)
      const entry: CatalogEntry = { name: seed.name, kind: seed.kind, hash: seed.hash, meta }
      if (limits !== undefined && Object.keys(limits).length > 0) entry.limits = limits
      if (schedule !== undefined) entry.schedule = schedule
      if (pipeline !== undefined) entry.pipeline = pipeline
      const problem = seed.error ?? error
      if (problem !== undefined) entry.error = problem
      entries.push(entry)
    }
    // Forget what no seed needs any more.
    for (const key of this.python.keys()) if (!live.has(key)) this.python.delete(key)
    for (const key of this.sidecars.keys()) if (!live.has(key)) this.sidecars.delete(key)
    return entries
  }

  private async describeOne (seed: Seed): Promise<Described> {
    if (seed.kind === 'module') return declared(moduleMeta(seed.exports), seed.exports, moduleLimits(seed.exports), moduleStage(seed.exports), '')
    if (seed.kind === 'python') return { meta: await this.pythonMetaOf(seed) }
    return await this.sidecarOf(seed)
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

  /** An executable's meta, limits and pipeline declaration from its sidecar `NAME.json`. */
  private async sidecarOf (seed: Seed): Promise<Described> {
    const path = sidecarPath(seed.path)
    if (path === seed.path) return { meta: { ...EMPTY_META } }
    const s = await stat(path).catch(() => undefined)
    if (s === undefined || !s.isFile()) {
      this.sidecars.delete(seed.path)
      return { meta: { ...EMPTY_META } }
    }
    const stamp = `${s.size}:${s.mtimeMs}`
    const known = this.sidecars.get(seed.path)
    if (known?.stamp === stamp) return known
    let described: Described
    try {
      const json = await readFile(path, 'utf8')
      const parsed = JSON.parse(json) as Record<string, unknown>
      described = declared(sidecarMeta(json), parsed, limitsFrom(parsed), sidecarStage(parsed), ` in ${sidecarPath(seed.name)}`)
    } catch (err) {
      this.log.warn({ seed: seed.name, path, error: (err as Error).message }, 'seed sidecar ignored: not a JSON object')
      described = { meta: { ...EMPTY_META } }
    }
    this.sidecars.set(seed.path, { stamp, ...described })
    return described
  }
}
