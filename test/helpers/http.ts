import { request } from 'node:http'
import { Readable } from 'node:stream'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  /** The parsed envelope when the body is JSON. */
  json: { data: any, status: string, msg: string } | undefined
}

/**
 * One HTTP request, the whole answer read. node:http sends the path exactly
 * as given (no dot-segment normalisation), so malformed keys reach the peer.
 */
export async function http (method: string, url: string, body?: string | Buffer | Readable, headers: Record<string, string> = {}): Promise<Answer> {
  const u = /^http:\/\/([^/:]+):(\d+)(\/.*)?$/.exec(url)
  if (u === null) throw new Error(`not an http URL with a port: ${url}`)
  return await new Promise<Answer>((resolve, reject) => {
    const req = request({ host: u[1], port: Number(u[2]), path: u[3] ?? '/', method, headers, agent: false }, res => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const bytes = Buffer.concat(parts)
        let json: Answer['json']
        if (bytes.length > 0 && String(res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(bytes.toString())
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes, json })
      })
    })
    // Which request failed, in the test's report (a bare `read ECONNRESET` says nothing of it).
    req.on('error', err => { reject(Object.assign(err, { message: `${method} ${url}: ${err.message}` })) })
    if (body instanceof Readable) body.pipe(req)
    else req.end(body)
  })
}

/** Polls `fn` until it returns true or the deadline passes. */
export async function waitFor (fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await fn()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
}

export interface RawAnswer {
  /** Every byte the server sent, as latin1 text. */
  text: string
  /** Whether the server closed the connection before the deadline. */
  closed: boolean
  /** The status of the last answer in `text` (after any `100 Continue`), or 0. */
  status: number
  /** The envelope of that answer, when its body is JSON. */
  json: { data: any, status: string, msg: string } | undefined
}

/**
 * Sends `bytes` as they are on a fresh TCP connection (for requests node:http
 * would refuse to make: malformed, stalled, cut) and collects what the server
 * sends until it closes the connection, `timeoutMs` passes or `signal` aborts. `destroyAfterWrite`
 * drops the connection once the bytes are written, as a client that gives up.
 */
export async function rawExchange (url: string, bytes: string | Buffer, options: { timeoutMs: number, destroyAfterWrite?: boolean, signal?: AbortSignal }): Promise<RawAnswer> {
  const u = new URL(url)
  const { connect } = await import('node:net')
  return await new Promise<RawAnswer>((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port) })
    const parts: Buffer[] = []
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(parts).toString('latin1')
      const heads = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map(m => Number(m[1])).filter(s => s !== 100)
      const body = text.slice(text.lastIndexOf('\r\n\r\n') + 4)
      let json: RawAnswer['json']
      try { json = body.startsWith('{') ? JSON.parse(body) : undefined } catch {}
      resolve({ text, closed, status: heads.at(-1) ?? 0, json })
    }
    const timer = setTimeout(() => finish(false), options.timeoutMs)
    options.signal?.addEventListener('abort', () => finish(false), { once: true })
    socket.on('data', (c: Buffer) => parts.push(c))
    socket.on('close', () => finish(true))
    socket.on('error', err => { if (parts.length === 0 && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED') reject(err) })
    socket.write(bytes, () => { if (options.destroyAfterWrite === true) socket.destroy() })
  })
}
