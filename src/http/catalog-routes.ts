import type { FastifyInstance, FastifyRequest } from 'fastify'
import { badRequest } from '../common/errors.js'
import type { ClusterSeed } from '../seeds/index.js'
import { ok, sendEnvelope } from './envelope.js'
import { mountRoute } from './routes.js'
import type { JobCatalogView } from './types.js'

/**
 * One row of `admin/job_catalog`: Pulzar's fields (pulzar-api.md §9.3:
 * `path` without a leading `/`, `description`, `args`, `category`, `author`)
 * and pmz's: where the seed is and whether it can be launched.
 */
export interface CatalogRow {
  path: string
  description: string
  args: string
  category: string
  author: string
  kind: ClusterSeed['kind']
  /** The content hash most holders have. */
  hash: string
  /** Worker peers holding it, at any hash. */
  peers: string[]
  /** Holders by content hash. */
  hashes: Record<string, string[]>
  /** True when holders disagree on its content (more than one hash). */
  hash_conflict: boolean
  /** Some holder can run it; false when every copy failed to load. */
  launchable: boolean
  /** Why it cannot be launched; null when it can. */
  error: string | null
  /** Holders whose copy failed to load, with the reason. */
  errors: Record<string, string>
  /** What the seed declares: `concurrency`, `timeoutMs`, `retries` ({} when nothing). */
  limits: ClusterSeed['limits']
}

export function catalogRow (s: ClusterSeed): CatalogRow {
  return {
    path: s.name,
    ...s.meta,
    kind: s.kind,
    hash: s.hash,
    peers: s.peers,
    hashes: s.hashes,
    hash_conflict: Object.keys(s.hashes).length > 1,
    launchable: s.launchable,
    error: s.error ?? null,
    errors: s.errors,
    limits: s.limits
  }
}

/** `GET /admin/job_catalog[?limit=N]`: every seed of the cluster's worker peers once, by name. */
export function mountCatalogRoutes (app: FastifyInstance, catalog: JobCatalogView): void {
  mountRoute(app, {
    url: '/admin/job_catalog',
    handlers: {
      GET: async (req, reply) => {
        const limit = limitOf(req)
        const rows = catalog.list().slice(0, limit).map(catalogRow)
        return sendEnvelope(reply, 200, ok(rows, rows.length === 0 ? 'No seeds in the catalog' : ''))
      }
    }
  })
}

/** `limit` (any position in the query, unlike Pulzar), a positive integer; all rows when absent. */
function limitOf (req: FastifyRequest): number | undefined {
  const raw = (req.query as Record<string, unknown>).limit
  if (raw === undefined) return undefined
  const limit = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(limit) || limit < 1) throw badRequest('limit must be a positive integer')
  return limit
}
