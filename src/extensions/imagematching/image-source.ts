import type { Readable } from 'node:stream'
import { PmzError, badRequest, isPmzError } from '../../common/errors.js'
import { parseKey, type Key, type Store } from '../../store/index.js'
import { IMAGE_FETCH_TIMEOUT_MS } from '../constants.js'

/** Pulzar's message for a base image that cannot be had (pulzar-api.md §5.3). */
export const DOWNLOAD_FAILED = 'Imagematching::Could not download the image, verify the source URL'

export interface ImageSourceOptions {
  store: Pick<Store, 'get'>
  /** Whether an origin (`http://host:port`) is a gateway of this cluster: its `get_key` URLs are read from the store. */
  isClusterOrigin: (origin: string) => boolean
  maxBytes: number
  signal: AbortSignal
}

/** Where the bytes of an `image_url` are: a key of the mesh, or a URL elsewhere. */
export type ImageSource = { type: 'key', key: Key } | { type: 'url', url: URL }

/** A path that is an absolute http(s) URL itself (`/http://host/...`; `/http:/host/...` once a proxy merged the slashes). */
const EMBEDDED_URL = /^\/https?:\//i

/**
 * What `image_url` names (pulzar-api.md §5.3), decided without I/O:
 * - a key (`/dir/name.png`, or `dir/name.png`);
 * - a `get_key/{key}` URL of a gateway of this cluster: that key;
 * - a URL of this cluster whose path is another absolute URL: that URL, so
 *   Pulzar's script form `{base}/http://{host}/get_key/{key}` (the gateway's
 *   base URL prefixed to the absolute `data.url` of add_key, unencoded) names
 *   the key. Pulzar served it because its gateway matched `get_key` anywhere
 *   in a path; here only this parameter reads it that way, the routes do not;
 * - any other http(s) URL: downloaded.
 * Any other URL of this cluster is refused: fetching our own routes over HTTP
 * reads nothing an image could be.
 */
export function resolveImageSource (imageUrl: string, isClusterOrigin: (origin: string) => boolean): ImageSource {
  // A key may come without its leading / (as pulzar_data takes it): with no `:` it is no absolute URL.
  if (imageUrl.startsWith('/') || !imageUrl.includes(':')) return { type: 'key', key: parseKey(imageUrl) }
  let url = parseUrl(imageUrl)
  // Each embedded URL is shorter than the one around it, so this ends.
  while (isClusterOrigin(url.origin)) {
    if (url.pathname.startsWith('/get_key/')) return { type: 'key', key: parseKey(url.pathname.slice('/get_key'.length)) }
    if (!EMBEDDED_URL.test(url.pathname)) {
      throw badRequest(DOWNLOAD_FAILED, { reason: 'a URL of this cluster names a key as get_key/{key}' })
    }
    url = parseUrl(url.pathname.slice(1) + url.search)
  }
  return { type: 'url', url }
}

/**
 * Whether an origin is one of this cluster's gateways: the one the client
 * called, or any peer's. Asked only for an absolute `image_url`, so the
 * member list is read then, not on every call.
 */
export function clusterOrigins (baseUrl: string, gateways: (() => readonly string[]) | undefined): (origin: string) => boolean {
  let known: Set<string> | undefined
  return origin => {
    known ??= new Set([baseUrl, ...(gateways?.() ?? [])].flatMap(u => {
      try {
        return [new URL(u).origin]
      } catch {
        return []
      }
    }))
    return known.has(origin)
  }
}

function parseUrl (text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw badRequest(DOWNLOAD_FAILED, { reason: 'image_url is neither a key (/dir/name) nor a URL' })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(DOWNLOAD_FAILED, { reason: 'only http and https URLs' })
  return url
}

/**
 * The bytes `image_url` names (see {@link resolveImageSource}): a key is read
 * through the store, so it works wherever the key lives in the mesh; any
 * other URL is downloaded with a deadline and a size limit.
 */
export async function loadImageSource (imageUrl: string, options: ImageSourceOptions): Promise<Buffer> {
  const source = resolveImageSource(imageUrl, options.isClusterOrigin)
  return source.type === 'key' ? await fromStore(source.key, options) : await download(source.url, options)
}

async function fromStore (key: Key, options: ImageSourceOptions): Promise<Buffer> {
  try {
    const { meta, body } = await options.store.get(key, { signal: options.signal })
    if (meta.size > options.maxBytes) throw new PmzError('ERR_TOO_LARGE', `the base image is larger than ${options.maxBytes} bytes`)
    return Buffer.isBuffer(body) ? body : await readAll(body, options.maxBytes)
  } catch (err) {
    if (isPmzError(err, 'ERR_NOT_FOUND')) throw new PmzError('ERR_NOT_FOUND', DOWNLOAD_FAILED, { details: { key } })
    throw err
  }
}

async function download (url: URL, options: ImageSourceOptions): Promise<Buffer> {
  const signal = AbortSignal.any([options.signal, AbortSignal.timeout(IMAGE_FETCH_TIMEOUT_MS)])
  let res: Response
  try {
    res = await fetch(url, { signal, redirect: 'follow' })
  } catch (err) {
    if (options.signal.aborted) throw options.signal.reason
    throw badRequest(DOWNLOAD_FAILED, { reason: (err as Error).message })
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => {})
    throw badRequest(DOWNLOAD_FAILED, { status: res.status })
  }
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > options.maxBytes) {
    await res.body.cancel().catch(() => {})
    throw new PmzError('ERR_TOO_LARGE', `the base image is larger than ${options.maxBytes} bytes`)
  }
  const parts: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of res.body) {
      size += chunk.length
      if (size > options.maxBytes) throw new PmzError('ERR_TOO_LARGE', `the base image is larger than ${options.maxBytes} bytes`)
      parts.push(Buffer.from(chunk))
    }
  } catch (err) {
    if (isPmzError(err)) throw err
    throw badRequest(DOWNLOAD_FAILED, { reason: (err as Error).message })
  }
  return Buffer.concat(parts)
}

async function readAll (stream: Readable, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of stream) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      stream.destroy()
      throw new PmzError('ERR_TOO_LARGE', `the base image is larger than ${maxBytes} bytes`)
    }
    parts.push(chunk as Buffer)
  }
  return Buffer.concat(parts)
}
