import { request, type Dispatcher } from 'undici'
import type { Readable } from 'node:stream'
import { keyToUrlPath } from '../store/index.js'

/** A failure the CLI prints as one line. */
export class CliError extends Error {}

export interface Envelope<T> { data: T, status: 'ok' | 'ko', msg: string }

/** The URL path of a key given on the command line, with or without its leading `/`. */
export function keyPath (key: string): string {
  return keyToUrlPath(key.startsWith('/') ? key : `/${key}`)
}

/** Talks to one gateway over HTTP. */
export class GatewayClient {
  /** `token`: the bearer token sent with every request (PMZ_TOKEN), when the gateway asks for one. */
  constructor (readonly base: string, private readonly token?: string) {}

  /** `untimed`: no deadline for the answer's headers or between its bytes (a backup or restore of any size). */
  async send (method: Dispatcher.HttpMethod, path: string, options: { body?: Readable, headers?: Record<string, string>, untimed?: boolean } = {}): Promise<Dispatcher.ResponseData> {
    const headers = this.token === undefined ? options.headers : { ...options.headers, authorization: `Bearer ${this.token}` }
    const timeouts = options.untimed === true ? { headersTimeout: 0, bodyTimeout: 0 } : {}
    try {
      return await request(`${this.base}${path}`, { method, body: options.body, headers, ...timeouts })
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      throw new CliError(`cannot reach the gateway at ${this.base}: ${e.code ?? e.message}`)
    }
  }

  /** Sends a request whose answer is an envelope; a `ko` answer becomes a CliError. */
  async json<T> (method: Dispatcher.HttpMethod, path: string, options: { body?: Readable, headers?: Record<string, string> } = {}): Promise<Envelope<T>> {
    const res = await this.send(method, path, options)
    return await readEnvelope<T>(res)
  }
}

export async function readEnvelope<T> (res: Dispatcher.ResponseData): Promise<Envelope<T>> {
  const text = await res.body.text()
  let env: Envelope<T>
  try {
    env = JSON.parse(text) as Envelope<T>
  } catch {
    throw new CliError(`the gateway answered ${res.statusCode} with a body that is not JSON`)
  }
  if (res.statusCode >= 400 || env.status !== 'ok') throw new CliError(`${env.msg !== '' ? env.msg : 'request failed'} (HTTP ${res.statusCode})`)
  return env
}
