import type { FastifyInstance, FastifyRequest } from 'fastify'
import { PmzError, badRequest, isPmzError, notFound } from '../common/errors.js'
import { keyToUrlPath, parseKey, type Store, type ValueMeta } from '../store/index.js'
import { ok, sendEnvelope } from './envelope.js'
import { clientBase, mountRoute, pathAfter, rawQuery } from './routes.js'

const MIB = 1024 * 1024

export interface StorageRoutesInit {
  /** Largest accepted value, in MiB (inclusive). */
  maxsizeMb: number
  /** This peer's own HTTP base URL, used when a request has no Host header. */
  selfUrl: () => string
}

/** Pulzar's storage API (pulzar-api.md §4): add_key, get_node, get_key, delete_key. */
export function mountStorageRoutes (app: FastifyInstance, store: Store, init: StorageRoutesInit): void {
  const maxBytes = Math.floor(init.maxsizeMb * MIB)
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
          await store.put(key, req.raw, { ifAbsent: true, maxBytes, temporalDays, sizeHint: declared })
        } catch (err) {
          if (isPmzError(err, 'ERR_TOO_LARGE')) throw tooLarge()
          throw err
        }
        const url = `${clientBase(req, init.selfUrl())}/get_key/${keyToUrlPath(key)}`
        return sendEnvelope(reply, 201, ok({ url }, 'key added'))
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
        const node = `${store.ownerUrl?.(key) ?? clientBase(req, init.selfUrl())}/add_key/${keyToUrlPath(key)}${query === '' ? '' : `?${query}`}`
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
        return await reply.code(200).headers(valueHeaders(meta)).send(body)
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
        return sendEnvelope(reply, 200, ok(null, 'key deleted'))
      }
    }
  })
}

/** `?temporal=N`: days, an integer >= 0, or -1 for permanent (pulzar-api.md §4.1, §10). */
function parseTemporal (req: FastifyRequest): number | undefined {
  const raw = (req.query as Record<string, unknown>).temporal
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw) || Number(raw) < -1) {
    throw badRequest('temporal must be an integer >= 0 (days), or -1 for permanent')
  }
  return Number(raw)
}

function valueHeaders (meta: ValueMeta): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(meta.size),
    etag: `"${meta.sha256}"`,
    'last-modified': new Date(meta.created).toUTCString()
  }
}
