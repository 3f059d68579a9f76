import Fastify, { type FastifyInstance } from 'fastify'
import { PmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { mountAdminRoutes } from './admin-routes.js'
import { bearerCheck } from './auth.js'
import { CORS_HEADERS, ko, sendEnvelope } from './envelope.js'
import { errorHandler } from './error-mapper.js'
import { mountCoordinatorRoutes } from './coordinator-routes.js'
import { mountExtensionRoutes } from './extension-routes.js'
import type { Gateway, GatewayComponents, GatewayInit } from './types.js'
import { sendOptions } from './routes.js'
import { mountStorageRoutes } from './storage-routes.js'

const DEFAULT_PORT = 31414
const DEFAULT_MAXSIZE_MB = 5
const STOP_GRACE_MS = 10_000

/** The HTTP gateway on fastify: Pulzar's routes, streaming bodies both ways, the envelope. */
export class FastifyGateway implements Gateway {
  private readonly app: FastifyInstance
  private readonly log: Logger
  private boundPort = 0
  private boundUrl = ''
  private closing = false
  private stopping: Promise<void> | undefined

  constructor (private readonly components: GatewayComponents, private readonly init: GatewayInit) {
    this.log = components.log
    this.app = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      routerOptions: { maxParamLength: 8192 },
      return503OnClosing: false,
      forceCloseConnections: 'idle',
      frameworkErrors: (err, _req, reply) => {
        sendEnvelope(reply, 400, ko(err.code === 'FST_ERR_BAD_URL' ? 'invalid URL: malformed percent-escape' : err.message))
      }
    })
    // Bodies stay unread streams (req.raw); each handler reads what it needs.
    this.app.removeAllContentTypeParsers()
    this.app.addContentTypeParser('*', (_req, _payload, done) => { done(null) })
    // Callback hooks, not async ones: no promise per request.
    const check = bearerCheck(init.token)
    this.app.addHook('onRequest', (req, reply, done) => {
      reply.headers(CORS_HEADERS)
      if (this.closing) done(new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down'))
      else done(check?.(req.method, req.url, req.headers.authorization))
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
    this.app.setErrorHandler(errorHandler(this.log))
    this.app.setNotFoundHandler((req, reply) => {
      if (req.method === 'OPTIONS') return sendOptions(reply)
      return sendEnvelope(reply, 404, ko('Wrong query, route not found'))
    })
    mountStorageRoutes(this.app, components.store, {
      maxsizeMb: init.maxsizeMb ?? DEFAULT_MAXSIZE_MB,
      selfUrl: () => this.boundUrl
    })
    mountAdminRoutes(this.app, components.store, components.network, init.self)
    mountCoordinatorRoutes(this.app, components.coordinator, components.log)
    mountExtensionRoutes(this.app, components.extensions, {
      maxsizeMb: init.maxsizeMb ?? DEFAULT_MAXSIZE_MB,
      selfUrl: () => this.boundUrl
    })
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
