/** How often the seeds directory is rescanned even when no file-system event arrived, in ms. */
export const POLL_INTERVAL_MS = 1000
/** Quiet time after a file-system event before rescanning (editors write in several steps), in ms. */
export const DEBOUNCE_MS = 75
/** Deepest directory level scanned below the seeds directory (guards against symlink loops). */
export const MAX_DEPTH = 8
/** File extensions loaded as JavaScript modules, in the order that wins when two files share a name. */
export const MODULE_EXTENSIONS = ['.mjs', '.js', '.cjs', '.mts', '.ts', '.cts'] as const
/** Pulzar job scripts (pulzar-api.md §7), run through the Python adapter of the jobs layer. */
export const PYTHON_EXTENSIONS = ['.py'] as const
/** Directory names never scanned. */
export const SKIPPED_DIRS: ReadonlySet<string> = new Set(['node_modules', '__pycache__'])
/** Longest a seed module's import (its top-level code) may take, in ms. */
export const LOAD_TIMEOUT_MS = 10_000
/** Longest a declared meta field (description, args, category, author) is kept, in characters; longer ones are cut. */
export const META_FIELD_MAX_CHARS = 1000
/** How often the cluster catalog re-reads executables' sidecars and retries peers it could not fetch from, in ms. */
export const CATALOG_REFRESH_MS = 1000
/** Deadline of a `seeds.catalog` request to another peer, in ms. */
export const CATALOG_FETCH_TIMEOUT_MS = 5000
/** First wait before fetching again from a peer whose catalog could not be fetched, in ms; doubles up to the max. */
export const CATALOG_RETRY_MIN_MS = 500
/** Longest wait between two fetches from a failing peer, in ms. */
export const CATALOG_RETRY_MAX_MS = 10_000
/** Version of the `seeds.catalog` wire messages; a message with another `v` is refused. */
export const CATALOG_VERSION = 1
