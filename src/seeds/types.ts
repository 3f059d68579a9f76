import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'

/**
 * How a seed runs: a JS/TS `module` is imported, a `python` file goes through
 * the Pulzar adapter, any other file with an execute bit is an `executable`.
 */
export type SeedKind = 'module' | 'python' | 'executable'

/** One seed: a file of the seeds directory (DESIGN.md "Seeds"). */
export interface Seed {
  /** Its path below the seeds directory without the extension, `/`-separated: `example/factorial`. */
  readonly name: string
  /** Absolute path of the file. */
  readonly path: string
  readonly kind: SeedKind
  /** Hex sha256 of the file's content (what the catalog gossips). */
  readonly hash: string
  readonly size: number
  readonly mtimeMs: number
  /** A module's exports, once it loaded (`run`, `schedule`, `extension`, ...). Absent for other kinds or when loading failed. */
  readonly exports?: Readonly<Record<string, unknown>>
  /** Why a module failed to load (the import error's message). */
  readonly error?: string
}

/** A seed appeared, changed (new content) or disappeared. */
export type SeedEvent =
  | { type: 'added', seed: Seed }
  | { type: 'changed', seed: Seed, previous: Seed }
  | { type: 'removed', seed: Seed }

/**
 * The seeds of this peer's seeds directory. Dropping, changing or removing a
 * file registers, reloads or withdraws its seed within about a second,
 * without a restart.
 */
export interface SeedCatalog extends Startable {
  /** Every seed, by name order. */
  list(): Seed[]
  get(name: string): Seed | undefined
  /** Called once per change, after a changed module has been reloaded. Returns the unsubscribe function. */
  on(event: 'seed:change', fn: (e: SeedEvent) => void): () => void
  /** Rescans the directory now; resolves once the catalog reflects it. */
  refresh(): Promise<void>
}

export interface SeedCatalogComponents { clock: Clock, log: Logger }

export interface SeedCatalogInit {
  /** The seeds directory; a missing directory is an empty catalog until it appears. */
  dir: string
  /** Rescan period when no file-system event arrives, in ms. @default 1000 */
  pollIntervalMs?: number
  /** Quiet time after a file-system event before rescanning, in ms. @default 75 */
  debounceMs?: number
  /** Watch the directory (fs.watch, recursive) besides polling. @default true */
  watch?: boolean
}

