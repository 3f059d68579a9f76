import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { PmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { mountAdminRoutes } from './admin-routes.js'
import { mountBackupRoutes } from './backup-routes.js'
import { bearerCheck } from './auth.js'
import { mountCatalogRoutes } from './catalog-routes.js'
import { clientErrorHandler, refuseExpectation } from './client-error.js'
import { BODY_IDLE_TIMEOUT_MS, CLIENT_ERROR_LINGER_MS, DRAIN_MIN_BYTES, MAX_UPLOADS_PER_CLIENT } from './constants.js'
import { CORS_HEADERS, ko, sendEnvelope } from './envelope.js'
import { errorHandler } from './error-mapper.js'
import { mountCoordinatorRoutes } from './coordinator-routes.js'
import { mountDashboardRoutes } from './dashboard-routes.js'
import { mountEventRoutes } from './events-routes.js'
import { mountExtensionRoutes } from './extension-routes.js'
import { mountJobRoutes } from './job-routes.js'
import { mountMetricsRoutes } from './metrics-routes.js'
import { mountPipelineRoutes } from './pipeline-routes.js'
import type { Gateway, GatewayComponents, GatewayInit } from './types.js'
import { sendOptions } from './routes.js'
import { mountStorageRoutes } from './storage-routes.js'
import { UploadGuard } from './upload-guard.js'

const DEFAULT_PORT = 31414
const DEFAULT_MAXSIZE_MB = 5
const STOP_GRACE_MS = 10_000
const MIB = 1024 * 1024

/** The HTTP gateway on fastify: Pulzar's routes, streaming bodies both ways, the envelope. */
export class FastifyGateway implements Gateway {
  private readonly app: FastifyInstance
  private readonly log: Logger
  private readonly uploads: UploadGuard
  private boundPort = 0
  private boundUrl = ''
  private closing = false
  private stopping: Promise<void> | undefined

  constructor (private readonly components: GatewayComponents, private readonly init: GatewayInit) {
    this.log = components.log
    const maxsizeMb = init.maxsizeMb ?? DEFAULT_MAXSIZE_MB
    this.uploads = new UploadGuard(components.clock, this.log, {
      idleTimeoutMs: init.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS,
      maxPerClient: init.maxUploadsPerClient ?? MAX_UPLOADS_PER_CLIENT,
      drainMaxBytes: Math.max(DRAIN_MIN_BYTES, 2 * maxsizeMb * MIB)
    })
    this.app = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      routerOptions: { maxParamLength: 8192 },
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      frameworkErrors: (err, _req, reply) => {
        sendEnvelope(reply, 400, ko(err.code === 'FST_ERR_BAD_URL' ? 'invalid URL: malformed percent-escape' : err.message))
      },
      clientErrorHandler: clientErrorHandler(components.clock, this.log, CLIENT_ERROR_LINGER_MS)
    })
    // With a `checkContinue` listener node leaves `100 Continue` to us: it goes out when a route
    // first reads the body, so an upload refused before that (409, 413) is never sent.
    const server = this.app.server
    server.on('checkContinue', (req, res) => {
      this.uploads.expectContinue(req, res)
      server.emit('request', req, res)
    })
    server.on('checkExpectation', refuseExpectation)
    // Bodies stay unread streams; each handler reads what it needs through the UploadGuard.
    this.app.removeAllContentTypeParsers()
    this.app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
    // Callback hooks, not async ones: no promise per request.
    const check = bearerCheck(init.token)
    this.app.addHook('onRequest', (req, reply, done) => {
      reply.headers(CORS_HEADERS)
      if (this.closing) done(new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down'))
      else done(check?.(req.method, req.url, req.headers.authorization) ?? this.uploads.admit(req.raw, reply.raw))
    })
    // Answers finished while stopping close their connection, so stop() need not wait for idle keep-alives.
    this.app.addHook('onSend', (_req, reply, payload, done) => {
      if (this.closing) reply.header('connection', 'close')
      done(null, payload)
    })
    // One access line per request at debug; the hook is not added otherwise (it costs on every request).
    if (this.log.isLevelEnabled('debug')) {
      this.app.addHook('onResponse', (req, reply, done) => {
        this.log.debug({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request')
        done()
      })
    }
    this.app.setErrorHandler(errorHandler(this.log, req => this.uploads.closesAfterError(req), async req => { await this.uploads.drainBeforeClosing(req) }))
    this.app.setNotFoundHandler((req, reply) => {
      if (req.method === 'OPTIONS') return sendOptions(reply)
      return sendEnvelope(reply, 404, ko('Wrong query, route not found'))
    })
    if (components.metrics !== undefined) mountMetricsRoutes(this.app, components.metrics)
    const routes = { maxsizeMb, selfUrl: () => this.boundUrl, bodies: this.uploads }
    mountStorageRoutes(this.app, components, routes)
    mountAdminRoutes(this.app, components, init.self)
    mountCoordinatorRoutes(this.app, components.coordinator, components.log, this.uploads)
    mountBackupRoutes(this.app, components, { self: init.self, spoolDir: init.spoolDir ?? join(tmpdir(), `pmz-spool-${process.pid}`), bodies: this.uploads })
    mountExtensionRoutes(this.app, components.extensions, routes)
    mountPipelineRoutes(this.app, components.pipelines, routes)
    mountDashboardRoutes(this.app, components.log)
    if (components.catalog !== undefined) mountCatalogRoutes(this.app, components.catalog)
    if (components.events !== undefined) mountEventRoutes(this.app, components.events, components.clock, components.log)
    if (components.catalog !== undefined && components.jobs !== undefined) {
      mountJobRoutes(this.app, components.jobs, components.catalog, components.coordinator, { clock: components.clock, log: components.log, bodies: this.uploads })
    }
  }

  url (): string { return this.boundUrl }
  port (): number { return this.boundPort }

  async start (): Promise<void> {
    if (this.boundUrl !== '') return
    const host = this.init.host ?? '0.0.0.0'
    await this.app.listen({ host, port: this.init.port ?? DEFAULT_PORT })
    const address = this.app.server.address()
    this.boundPort = typeof address === 'object' && address !== null ? address.port : 0
    const advertised = this.init.advertiseHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host)
    const shown = advertised.includes(':') && !advertised.startsWith('[') ? `[${advertised}]` : advertised
    this.boundUrl = `http://${shown}:${this.boundPort}`
  }

  /** Refuses new requests (503), lets in-flight ones finish up to the grace period, then closes. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.closing = true
      const grace = this.init.stopGraceMs ?? STOP_GRACE_MS
      const timer = setTimeout(() => { this.app.server.closeAllConnections() }, grace)
      timer.unref()
      try {
        await this.app.close()
      } finally {
        clearTimeout(timer)
      }
    })()
    return await this.stopping
  }
}
