import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { CliError, GatewayClient, keyPath, readEnvelope } from '../client.js'
import { progressStream } from '../progress.js'

export interface ClientFlags { gateway: string, token?: string, progress?: boolean }

/** `pmz put FILE KEY [--temporal D]` */
export async function put (file: string, key: string, flags: ClientFlags & { temporal?: string }): Promise<void> {
  if (flags.temporal !== undefined && !/^-?\d+$/.test(flags.temporal)) throw new CliError(`--temporal: expected a whole number of days, got "${flags.temporal}"`)
  // `-` is stdin, sent chunked: its size is known only at its end (the gateway still enforces maxsize).
  const size = file === '-' ? undefined : fileSize(file)
  const source = file === '-' ? process.stdin : createReadStream(file)
  const client = new GatewayClient(flags.gateway, flags.token)
  const query = flags.temporal !== undefined ? `?temporal=${flags.temporal}` : ''
  const body = source.pipe(progressStream(size ?? 0, 'upload', flags.progress))
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' }
  if (size !== undefined) headers['content-length'] = String(size)
  const env = await client.json<{ url: string }>('PUT', `/add_key/${keyPath(key)}${query}`, { body, headers })
  process.stdout.write(`${env.data.url}\n`)
}

function fileSize (file: string): number {
  try {
    const st = statSync(file)
    if (!st.isFile()) throw new CliError(`${file} is not a file`)
    return st.size
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/** `pmz get KEY [-o FILE]`: to stdout, or atomically to FILE. */
export async function get (key: string, flags: ClientFlags & { output?: string }): Promise<void> {
  const client = new GatewayClient(flags.gateway, flags.token)
  const res = await client.send('GET', `/get_key/${keyPath(key)}`)
  if (res.statusCode !== 200) {
    await readEnvelope(res)
    throw new CliError(`unexpected HTTP ${res.statusCode}`)
  }
  const total = Number(res.headers['content-length'] ?? 0)
  let received = 0
  const counter = progressStream(total, 'download', flags.progress)
  counter.on('data', (c: Buffer) => { received += c.length })
  const tmp = flags.output !== undefined ? `${flags.output}.pmz-part` : undefined
  const sink: Writable = tmp !== undefined ? createWriteStream(tmp) : stdoutSink()
  try {
    await pipeline(res.body, counter, sink)
    if (received !== total) throw new CliError(`transfer cut short: ${received} of ${total} bytes`)
    if (tmp !== undefined && flags.output !== undefined) renameSync(tmp, flags.output)
  } catch (err) {
    if (tmp !== undefined) rmSync(tmp, { force: true })
    if (err instanceof CliError) throw err
    throw new CliError(`transfer failed: ${(err as Error).message}`)
  }
}

/** `pmz rm KEY` */
export async function rm (key: string, flags: ClientFlags): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<null>('DELETE', `/delete_key/${keyPath(key)}`)
  process.stdout.write(`${env.msg}\n`)
}

/** A row of admin/keys; a time that is no date comes as null (see the gateway's keyRow). */
interface KeyRow { key: string, size: number, sha256: string, created: string | null, expires: string | null }

/** Keys asked per page of `admin/keys`. */
const PAGE = 1000

/** `pmz ls [PREFIX] [--limit N] [--json]`: the live keys under PREFIX, a page at a time. */
export async function ls (prefix: string | undefined, flags: ClientFlags & { limit?: string, json?: boolean }): Promise<void> {
  if (flags.limit !== undefined && !/^[1-9]\d{0,9}$/.test(flags.limit)) throw new CliError(`--limit: expected a whole number above 0, got "${flags.limit}"`)
  const client = new GatewayClient(flags.gateway, flags.token)
  let left = flags.limit === undefined ? Infinity : Number(flags.limit)
  const rows: KeyRow[] = []
  let after: string | undefined
  while (left > 0) {
    const asked = Math.min(PAGE, left)
    const q = new URLSearchParams({ limit: String(asked) })
    if (prefix !== undefined) q.set('prefix', prefix.startsWith('/') ? prefix : `/${prefix}`)
    if (after !== undefined) q.set('after', after)
    const env = await client.json<KeyRow[]>('GET', `/admin/keys?${q.toString()}`)
    if (flags.json === true) rows.push(...env.data)
    else {
      for (const row of env.data) {
        process.stdout.write(`${String(row.size).padStart(12)}  ${row.created ?? '-'.padEnd(24)}  ${row.key}${row.expires !== null ? `  (expires ${row.expires})` : ''}\n`)
      }
    }
    left -= env.data.length
    if (env.data.length < asked) break
    after = env.data[env.data.length - 1].key
  }
  if (flags.json === true) process.stdout.write(`${JSON.stringify(rows)}\n`)
}

/** `pmz status [--json]` */
export async function status (flags: ClientFlags & { json?: boolean }): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<Record<string, unknown>>('GET', '/admin/status')
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(env.data)}\n`)
    return
  }
  for (const [k, v] of Object.entries(env.data)) process.stdout.write(`${k.padEnd(16)} ${String(v)}\n`)
}

/** stdout as a pipeline sink that is never closed (later writes still work). */
function stdoutSink (): Writable {
  return new Writable({
    write (chunk: Buffer, _enc, cb) {
      if (process.stdout.write(chunk)) cb()
      else process.stdout.once('drain', () => cb())
    }
  })
}
