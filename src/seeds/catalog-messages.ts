import { createHash } from 'node:crypto'
import { CATALOG_VERSION } from './constants.js'
import { isLimits, type SeedLimits } from './seed-limits.js'
import type { SeedMeta } from './seed-meta.js'
import { isStageDecl, type StageDecl } from './seed-stage.js'
import type { SeedKind } from './types.js'

/** What a peer says of one of its seeds: what the cluster catalog merges and gossips. */
export interface CatalogEntry {
  /** The seed's name, `example/factorial`. */
  name: string
  kind: SeedKind
  /** Hex sha256 of the seed file's content. */
  hash: string
  meta: SeedMeta
  /** Its declared limits (concurrency, timeoutMs, retries); absent when it declares none. */
  limits?: SeedLimits
  /** Its `schedule` export as declared (`{every}` or `{cron, tz}`...); the jobs layer checks it. */
  schedule?: Record<string, unknown>
  /** Its pipeline declaration (`consumes`, `produces`, `source`...): the seed is a stage; absent when it declares none. */
  pipeline?: StageDecl
  /** Why the seed cannot run on that peer (a module that failed to load); absent when it can. */
  error?: string
}

/**
 * The compact form of a peer's catalog carried in its member meta (`seeds`):
 * gossip stays small whatever the number of seeds, and a peer fetches the
 * whole list with `seeds.catalog` only when the digest changes.
 */
export interface CatalogDigest {
  /** First 16 hex digits of the sha256 of the entries' JSON, in name order. */
  hash: string
  count: number
}

// Type aliases, not interfaces, so that messages are assignable to the transport's indexed Message.
/** Asks a peer for its whole catalog. */
export type CatalogRequest = { type: 'seeds.catalog', v: number }
/** A peer's whole catalog and its digest. */
export type CatalogReply = { type: 'seeds.catalog-reply', v: number, digest: CatalogDigest, entries: CatalogEntry[] }

export const CATALOG_REQUEST: CatalogRequest = { type: 'seeds.catalog', v: CATALOG_VERSION }

/** The digest of entries (sorted by name by the caller). */
export function digestOf (entries: CatalogEntry[]): CatalogDigest {
  const hash = createHash('sha256').update(JSON.stringify(entries)).digest('hex').slice(0, 16)
  return { hash, count: entries.length }
}

const KINDS: ReadonlySet<string> = new Set(['module', 'python', 'executable'])
const isStr = (x: unknown): x is string => typeof x === 'string'
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** A member meta's `seeds` field, when it is a digest. */
export function isDigest (x: unknown): x is CatalogDigest {
  return isObj(x) && isStr(x.hash) && typeof x.count === 'number' && Number.isSafeInteger(x.count) && x.count >= 0
}

function isMeta (x: unknown): x is SeedMeta {
  return isObj(x) && isStr(x.description) && isStr(x.args) && isStr(x.category) && isStr(x.author)
}

function isEntry (x: unknown): x is CatalogEntry {
  return isObj(x) && isStr(x.name) && x.name !== '' && isStr(x.kind) && KINDS.has(x.kind) && isStr(x.hash) &&
    isMeta(x.meta) && (x.error === undefined || isStr(x.error)) && (x.limits === undefined || isLimits(x.limits)) &&
    (x.schedule === undefined || isObj(x.schedule)) && (x.pipeline === undefined || isStageDecl(x.pipeline))
}

/** A checked reply, or why it was refused (another version, a malformed entry). */
export function parseCatalogReply (x: unknown): { ok: true, reply: CatalogReply } | { ok: false, reason: string } {
  if (!isObj(x) || x.type !== 'seeds.catalog-reply') return { ok: false, reason: 'not a seeds.catalog reply' }
  if (x.v !== CATALOG_VERSION) return { ok: false, reason: `seeds.catalog version ${String(x.v)}, expected ${CATALOG_VERSION}` }
  if (!isDigest(x.digest) || !Array.isArray(x.entries)) return { ok: false, reason: 'malformed seeds.catalog reply' }
  const bad = x.entries.findIndex(e => !isEntry(e))
  if (bad !== -1) return { ok: false, reason: `malformed seeds.catalog entry ${bad}` }
  return { ok: true, reply: x as CatalogReply }
}
