import type { Readable } from 'node:stream'
import { PmzError, badRequest, isPmzError } from '../../common/errors.js'
import { parseKey, type Store } from '../../store/index.js'
import { IMAGE_FETCH_TIMEOUT_MS } from '../constants.js'

/** Pulzar's message for a base image that cannot be had (pulzar-api.md §5.3). */
export const DOWNLOAD_FAILED = 'Imagematching::Could not download the image, verify the source URL'

export interface ImageSourceOptions {
  store: Store
  /** The base URL the client used to reach this peer: URLs under it are read from the store. */
  baseUrl: string
  maxBytes: number
  signal: AbortSignal
}

/**
 * The bytes `image_url` names: a key (`/dir/name.png`), or a `get_key` URL of
 * this peer — both read through the store, so they work wherever the key
 * lives in the mesh — or any other http(s) URL, downloaded with a deadline
 * and a size limit.
 */
export async function loadImageSource (imageUrl: string, options: ImageSourceOptions): Promise<Buffer> {
  if (imageUrl.startsWith('/')) return await fromStore(imageUrl, options)
  let url: URL
  try {
    url = new URL(imageUrl)
  } catch {
    throw badRequest(DOWNLOAD_FAILED, { reason: 'image_url is neither a key (/dir/name) nor a URL' })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw badRequest(DOWNLOAD_FAILED, { reason: 'only http and https URLs' })
  if (url.origin === new URL(options.baseUrl).origin && url.pathname.startsWith('/get_key/')) {
    return await fromStore(url.pathname.slice('/get_key'.length), options)
  }
  return await download(url, options)
}

async function fromStore (rawKey: string, options: ImageSourceOptions): Promise<Buffer> {
  const key = parseKey(rawKey)
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
