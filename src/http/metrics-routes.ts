import type { FastifyInstance } from 'fastify'
import { UNMATCHED_ROUTE, type PeerMetrics } from './metrics.js'
import { mountRoute } from './routes.js'

/**
 * `GET /metrics` (Prometheus text format, outside Pulzar's envelope) and the
 * one hook that counts and times every answered request. The hook is a
 * callback (no promise) and labels a request by its route's pattern
 * (`/get_key/*`), never by its URL, so the series stay bounded whatever
 * clients send; a request no route matched is UNMATCHED_ROUTE.
 */
export function mountMetricsRoutes (app: FastifyInstance, metrics: PeerMetrics): void {
  app.addHook('onResponse', (req, reply, done) => {
    metrics.observeRequest(req.method, req.routeOptions.url ?? UNMATCHED_ROUTE, reply.statusCode, reply.elapsedTime / 1000)
    done()
  })
  mountRoute(app, {
    url: '/metrics',
    handlers: {
      GET: async (_req, reply) => {
        const text = await metrics.scrape()
        reply.code(200).type(metrics.contentType)
        return text
      }
    }
  })
}
