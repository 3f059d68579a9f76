import { createHash } from 'node:crypto'
import { watch, type FSWatcher } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { DEBOUNCE_MS, POLL_INTERVAL_MS } from './constants.js'
import type { Seed, SeedCatalog, SeedCatalogComponents, SeedCatalogInit, SeedEvent } from './types.js'
import { scanSeeds, type SeedFile } from './seed-files.js'
import { importSeed } from './seed-loader.js'

/**
 * The seeds directory as a catalog. A recursive fs.watch triggers a rescan
 * after a short debounce; a periodic rescan catches what the watcher misses
 * (a directory created after start, inotify limits, network file systems).
 * A rescan stats every file and reads only those whose mtime or size moved;
 * a module is re-imported only when its content hash changed.
 */
export class WatchingSeedCatalog implements SeedCatalog {
  private readonly seeds = new Map<string, Seed>()
  private readonly listeners = new Set<(e: SeedEvent) => void>()
  private readonly warnedShadowed = new Set<string>()
  private readonly log: Logger
  private readonly clock: Clock
  private watcher: FSWatcher | undefined
  private pollTimer: Timer | undefined
  private debounceTimer: Timer | undefined
  private scanning: Promise<void> | undefined
  private queued: Promise<void> | undefined
  private started = false
  private stopping: Promise<void> | undefined

  constructor (components: SeedCatalogComponents, private readonly init: SeedCatalogInit) {
    this.log = components.log
    this.clock = components.clock
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.refresh()
    this.ensureWatcher()
    this.pollTimer = this.clock.setInterval(() => { this.trigger() }, this.init.pollIntervalMs ?? POLL_INTERVAL_MS)
    this.log.info({ dir: this.init.dir, seeds: this.seeds.size }, 'seeds catalog ready')
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.stopping ??= (async () => {
      this.pollTimer?.cancel()
      this.debounceTimer?.cancel()
      try {
        this.watcher?.close()
      } catch (err) {
        this.log.warn({ err }, 'closing the seeds watcher failed')
      }
      this.watcher = undefined
      await this.queued?.catch(() => {})
      await this.scanning?.catch(() => {})
      this.listeners.clear()
    })()
    return await this.stopping
  }

  list (): Seed[] {
    return [...this.seeds.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  }

  get (name: string): Seed | undefined { return this.seeds.get(name) }

  on (_event: 'seed:change', fn: (e: SeedEvent) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /** One scan at a time; a call during a scan queues exactly one more, which every such caller awaits. */
  async refresh (): Promise<void> {
    if (this.scanning === undefined) {
      this.scanning = this.scan().finally(() => { this.scanning = undefined })
      return await this.scanning
    }
    this.queued ??= this.scanning.catch(() => {}).then(async () => {
      this.queued = undefined
      await this.refresh()
    })
    return await this.queued
  }

  /** A file-system event or the poll timer: rescan soon, logging (not throwing) failures. */
  private trigger (): void {
    if (this.stopping !== undefined) return
    this.ensureWatcher()
    this.refresh().catch(err => this.log.warn({ err, dir: this.init.dir }, 'seeds rescan failed'))
  }

  private onFsEvent (): void {
    this.debounceTimer?.cancel()
    this.debounceTimer = this.clock.setTimeout(() => { this.trigger() }, this.init.debounceMs ?? DEBOUNCE_MS)
  }

  /** Starts the watcher once the directory exists; until then (or if watching fails) polling alone finds changes. */
  private ensureWatcher (): void {
    if (this.watcher !== undefined || this.init.watch === false || this.stopping !== undefined) return
    try {
      const watcher = watch(this.init.dir, { recursive: true, persistent: false }, () => { this.onFsEvent() })
      watcher.on('error', err => {
        this.log.debug({ err }, 'seeds watcher failed; polling only until it can be restarted')
        watcher.close()
        if (this.watcher === watcher) this.watcher = undefined
      })
      this.watcher = watcher
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.debug({ err }, 'cannot watch the seeds directory; polling only')
    }
  }

  private async scan (): Promise<void> {
    const { files, shadowed } = await scanSeeds(this.init.dir)
    for (const path of shadowed) {
      if (this.warnedShadowed.has(path)) continue
      this.warnedShadowed.add(path)
      this.log.warn({ path }, 'seed file ignored: another file has the same name')
    }
    for (const [name, seed] of this.seeds) {
      if (files.has(name)) continue
      this.seeds.delete(name)
      this.emit({ type: 'removed', seed })
    }
    for (const file of files.values()) {
      if (this.stopping !== undefined) return
      await this.update(file)
    }
  }

  private async update (file: SeedFile): Promise<void> {
    const current = this.seeds.get(file.name)
    if (current !== undefined && current.path === file.path && current.mtimeMs === file.mtimeMs && current.size === file.size) return
    let content: Buffer
    try {
      content = await readFile(file.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return // removed since the scan; the next one drops it
      throw err
    }
    const hash = createHash('sha256').update(content).digest('hex')
    if (current !== undefined && current.path === file.path && current.hash === hash && current.error === undefined) {
      // Touched, not changed: keep the loaded module, remember the new mtime.
      this.seeds.set(file.name, { ...current, size: file.size, mtimeMs: file.mtimeMs })
      return
    }
    const seed = await this.load(file, hash, content.length)
    if (this.stopping !== undefined) return
    this.seeds.set(file.name, seed)
    this.emit(current === undefined ? { type: 'added', seed } : { type: 'changed', seed, previous: current })
  }

  private async load (file: SeedFile, hash: string, size: number): Promise<Seed> {
    const base = { name: file.name, path: file.path, kind: file.kind, hash, size, mtimeMs: file.mtimeMs }
    if (file.kind !== 'module') return base
    try {
      const exports = await importSeed(file.path, hash, this.clock)
      this.log.info({ seed: file.name, exports: Object.keys(exports) }, 'seed loaded')
      return { ...base, exports }
    } catch (err) {
      const error = (err as Error).message
      this.log.warn({ seed: file.name, path: file.path, error }, 'seed failed to load')
      return { ...base, error }
    }
  }

  private emit (e: SeedEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e)
      } catch (err) {
        this.log.error({ err, seed: e.seed.name }, 'seed:change listener failed')
      }
    }
  }
}
