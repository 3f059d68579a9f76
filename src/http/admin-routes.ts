import type { FastifyInstance, FastifyRequest } from 'fastify'
import { badRequest, notFound } from '../common/errors.js'
import type { Store, ValueMeta } from '../store/index.js'
import { ok, sendEnvelope } from './envelope.js'
import type { NetworkView, PeerSelf, PeerView, RingView } from './types.js'
import { mountRoute } from './routes.js'

const MAX_LIST_LIMIT = 10_000

/** `admin/status`, `admin/network[/{node}]` (pulzar-api.md §9.1-9.2) and pmz's `admin/keys` and `admin/ring`. */
export function mountAdminRoutes (app: FastifyInstance, { store, network, ring }: { store: Store, network: NetworkView, ring?: RingView }, self: PeerSelf): void {
  mountRoute(app, {
    url: '/admin/status',
    handlers: {
      GET: async (_req, reply) => {
        const stats = await store.stats()
        // pulzar-api.md §9.1: entries = live keys in the cluster, once per key; local_entries = this peer's own replicas.
        const entries = ring !== undefined ? await countLiveKeys(store) : stats.entries
        const local = self.isVolume === false ? 0 : stats.entries
        return sendEnvelope(reply, 200, ok({ ...stats, entries, local_entries: local, peer: self.id, version: self.version }))
      }
    }
  })

  mountRoute(app, {
    url: '/admin/network',
    handlers: {
      GET: async (_req, reply) => {
        const peers = await withSync(await network.peers(), ring, self)
        return sendEnvelope(reply, 200, ok(peers, peers.length === 0 ? 'No nodes online' : ''))
      }
    }
  })

  mountRoute(app, {
    url: '/admin/network/:node',
    handlers: {
      GET: async (req, reply) => {
        const { node } = req.params as { node: string }
        const peer = (await withSync(await network.peers(), ring, self)).find(p => p.node === node)
        if (peer === undefined) throw notFound('node not found')
        return sendEnvelope(reply, 200, ok(peer))
      }
    }
  })

  mountRoute(app, {
    url: '/admin/ring',
    handlers: {
      GET: async (_req, reply) => {
        if (ring === undefined) throw notFound('this store is not distributed')
        return sendEnvelope(reply, 200, ok({ ...await ring.status(), peer: self.id }))
      }
    }
  })

  mountRoute(app, {
    url: '/admin/keys',
    handlers: {
      GET: async (req, reply) => {
        const { prefix, after, limit } = listQuery(req)
        const keys = await store.list({ prefix, after, limit })
        return sendEnvelope(reply, 200, ok(keys.map(keyRow)))
      }
    }
  })
}

/**
 * One row of `admin/keys`. Times that are no date (a record stored before
 * `temporal` was bounded, issue 12 item 4) show as null instead of failing
 * the whole listing: an expiry past the end of dates never comes.
 */
export function keyRow (m: ValueMeta): { key: string, size: number, sha256: string, created: string | null, expires: string | null } {
  return { key: m.key, size: m.size, sha256: m.sha256, created: isoTime(m.created), expires: m.expires === null ? null : isoTime(m.expires) }
}

/** An ISO time, or null when `ms` is not a representable date. */
function isoTime (ms: number): string | null {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

/** Marks the volume peers of the ring with `in_sync` (anti-entropy's last word), when there is a ring. */
async function withSync (peers: PeerView[], ring: RingView | undefined, self: PeerSelf): Promise<PeerView[]> {
  if (ring === undefined) return peers
  const status = await ring.status()
  const inSync = new Set(status.antiEntropy.inSync)
  return peers.map(p => status.volumePeers.includes(p.node) ? { ...p, in_sync: p.node === self.id || inSync.has(p.node) } : p)
}

/**
 * Live keys of the whole cluster, once per key: the store's list merges the
 * volume peers' lists (newest version of each key), paged by key.
 */
async function countLiveKeys (store: Store): Promise<number> {
  let count = 0
  let after: string | undefined
  for (;;) {
    const page = await store.list({ after, limit: MAX_LIST_LIMIT })
    count += page.length
    if (page.length < MAX_LIST_LIMIT) return count
    after = page[page.length - 1].key
  }
}

function listQuery (req: FastifyRequest): { prefix?: string, after?: string, limit: number } {
  const q = req.query as Record<string, unknown>
  const str = (name: string): string | undefined => {
    const v = q[name]
    if (v === undefined) return undefined
    if (typeof v !== 'string') throw badRequest(`${name} must appear once`)
    return v
  }
  const rawLimit = str('limit')
  const limit = rawLimit === undefined ? 1000 : Number(rawLimit)
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw badRequest(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`)
  const prefix = str('prefix')
  return { prefix: prefix === undefined || prefix.startsWith('/') ? prefix : `/${prefix}`, after: str('after'), limit }
}
