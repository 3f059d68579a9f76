import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { DASHBOARD_PREFIX, loadDashboardAssets, type Asset } from './dashboard-assets.js'
import { mountRoute, pathAfter } from './routes.js'

export interface DashboardRoutesInit {
  /** Where the page's files are. @default WEB_DIR (the package's `web/`) */
  webDir?: string
}

/**
 * The web dashboard: the page at `/` and its files under `/dashboard/`,
 * all from the package (nothing is fetched from elsewhere, so it works on a
 * LAN without internet). The page and its files need no token: they hold no
 * data; the page asks for the token when an API call answers 401 (README,
 * "Dashboard"). Every other path keeps Pulzar's routes and 404.
 */
export function mountDashboardRoutes (app: FastifyInstance, log: Logger, init: DashboardRoutesInit = {}): void {
  let assets: Map<string, Asset>
  try {
    assets = loadDashboardAssets(init.webDir)
  } catch (err) {
    // A broken install loses the page, not the peer.
    log.warn({ err }, 'dashboard files missing; the page is not served')
    assets = new Map()
  }
  mountRoute(app, {
    url: '/',
    handlers: { GET: async (req, reply) => send(req, reply, assets.get('/')) }
  })
  mountRoute(app, {
    url: `${DASHBOARD_PREFIX}*`,
    handlers: { GET: async (req, reply) => send(req, reply, assets.get(`${DASHBOARD_PREFIX}${pathAfter(req, DASHBOARD_PREFIX)}`)) }
  })
}

function send (req: FastifyRequest, reply: FastifyReply, asset: Asset | undefined): FastifyReply {
  if (asset === undefined) throw notFound('Wrong query, route not found')
  // Revalidated each time (a peer upgraded in place serves new files at once), 304 while unchanged.
  reply.headers({ 'cache-control': 'no-cache', etag: asset.etag, 'x-content-type-options': 'nosniff', ...asset.headers })
  if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send()
  return reply.code(200).type(asset.type).send(asset.body)
}
