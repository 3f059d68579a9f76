import type { FastifyInstance, FastifyRequest } from 'fastify'
import { PmzError, badRequest, isPmzError, notFound } from '../common/errors.js'
import { keyToUrlPath, parseKey, type Store, type ValueMeta } from '../store/index.js'
import { MAX_TEMPORAL_DAYS } from './constants.js'
import { envelopePayload, ok, sendEnvelope } from './envelope.js'
import type { BodySource } from './request-body.js'
import type { RingView } from './types.js'
import { clientBase, mountRoute, pathAfter, rawQuery } from './routes.js'

const MIB = 1024 * 1024
/** A declared body up to this size is read whole before the store sees it (one Buffer costs less than a stream). */
const SMALL_BODY_BYTES = 64 * 1024

export interface StorageRoutesInit {
  /** Largest accepted value, in MiB (inclusive). */
  maxsizeMb: number
  /** This peer's own HTTP base URL, used when a request has no Host header. */
  selfUrl: () => string
  /** Request bodies, with their idle deadline and `100 Continue`. */
  bodies: BodySource
}

/** Pulzar's storage API (pulzar-api.md §4): add_key, get_node, get_key, delete_key. */
export function mountStorageRoutes (app: FastifyInstance, { store, ring }: { store: Store, ring?: RingView }, init: StorageRoutesInit): void {
  const maxBytes = Math.floor(init.maxsizeMb * MIB)
  const deleted = JSON.stringify(ok(null, 'key deleted'))
  const tooLarge = (): PmzError => new PmzError('ERR_TOO_LARGE', `max size allowed is ${init.maxsizeMb}MB`, { details: { maxsizeMb: init.maxsizeMb } })

  mountRoute(app, {
    url: ['/add_key', '/add_key/*'],
    handlers: {
      PUT: async (req, reply) => {
        const key = parseKey(pathAfter(req, '/add_key'))
        const temporalDays = parseTemporal(req)
        const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
        if (declared !== undefined && declared > maxBytes) throw tooLarge()
        try {
          const stream = init.bodies.body(req)
          const body = declared !== undefined && declared <= SMALL_BODY_BYTES ? new OneChunk(await stream.readAll(maxBytes, tooLarge)) : stream
          await store.put(key, body, { ifAbsent: true, maxBytes, temporalDays, sizeHint: declared })
        } catch (err) {
          if (isPmzError(err, 'ERR_TOO_LARGE')) throw tooLarge()
          throw err
        }
        const url = `${clientBase(req, init.selfUrl())}/get_key/${keyToUrlPath(key)}`
        return envelopePayload(reply, 201, JSON.stringify(ok({ url }, 'key added')))
      }
    }
  })

  mountRoute(app, {
    url: ['/get_node', '/get_node/*'],
    handlers: {
      GET: async (req, reply) => {
        const key = parseKey(pathAfter(req, '/get_node'))
        if (await store.stat(key) !== undefined) throw new PmzError('ERR_CONFLICT', 'key already exists')
        const query = rawQuery(req)
        const node = `${ring?.ownerUrl(key) ?? clientBase(req, init.selfUrl())}/add_key/${keyToUrlPath(key)}${query === '' ? '' : `?${query}`}`
        return sendEnvelope(reply, 200, ok({ node }, 'ok'))
      }
    }
  })

  mountRoute(app, {
    url: ['/get_key', '/get_key/*'],
    handlers: {
      GET: async (req, reply) => {
        const key = parseKey(pathAfter(req, '/get_key'))
        const { meta, body } = await store.get(key)
        reply.code(200).headers(valueHeaders(meta))
        // Returned, not sent: see envelopePayload. A Buffer goes out in one write, a stream is piped.
        return body
      },
      HEAD: async (req, reply) => {
        const key = parseKey(pathAfter(req, '/get_key'))
        const meta = await store.stat(key)
        if (meta === undefined) throw notFound('key not found')
        return await reply.code(200).headers(valueHeaders(meta)).send()
      }
    }
  })

  mountRoute(app, {
    url: ['/delete_key', '/delete_key/*'],
    handlers: {
      DELETE: async (req, reply) => {
        const key = parseKey(pathAfter(req, '/delete_key'))
        await store.delete(key)
        return envelopePayload(reply, 200, deleted)
      }
    }
  })
}

/**
 * One Buffer as the async iterable a store reads. A class, not an object
 * literal with a computed `Symbol.asyncIterator` key: V8 builds such a
 * literal in dictionary mode, which cost about a microsecond per PUT.
 */
class OneChunk implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  private done = false
  constructor (private readonly bytes: Buffer) {}

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> { return this }

  async next (): Promise<IteratorResult<Uint8Array>> {
    if (this.done) return { done: true, value: undefined }
    this.done = true
    return { done: false, value: this.bytes }
  }
}

/**
 * `?temporal=N`: days, an integer from 0 to MAX_TEMPORAL_DAYS, or -1 for
 * permanent (pulzar-api.md §4.1, §10). A larger one would give an expiry that
 * is no date at all (issue 12 item 4).
 */
function parseTemporal (req: FastifyRequest): number | undefined {
  const raw = (req.query as Record<string, unknown>).temporal
  if (raw === undefined) return undefined
  const days = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : NaN
  if (!(days >= -1 && days <= MAX_TEMPORAL_DAYS)) {
    throw badRequest(`temporal must be an integer from 0 to ${MAX_TEMPORAL_DAYS} (days), or -1 for permanent`)
  }
  return days
}

function valueHeaders (meta: ValueMeta): Record<string, string> {
  return { 'content-type': 'application/octet-stream', 'content-length': String(meta.size), etag: `"${meta.sha256}"`, 'last-modified': lastModified(meta.created) }
}

let lastSecond = NaN
let lastText = ''

/** A Last-Modified text; Date#toUTCString per answer is measurable, so values written in one second share it. */
function lastModified (created: number): string {
  const second = Math.floor(created / 1000)
  if (second !== lastSecond) {
    lastText = new Date(created).toUTCString()
    lastSecond = second
  }
  return lastText
}
