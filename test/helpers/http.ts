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
    req.on('error', reject)
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
