import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { Writable } from 'node:stream'
import { CliError, GatewayClient, keyPath, readEnvelope } from '../client.js'
import { progressStream } from '../progress.js'

export interface ClientFlags { gateway: string, progress?: boolean }

/** `pmz put FILE KEY [--temporal D]` */
export async function put (file: string, key: string, flags: ClientFlags & { temporal?: string }): Promise<void> {
  let size: number
  try {
    const st = statSync(file)
    if (!st.isFile()) throw new CliError(`${file} is not a file`)
    size = st.size
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (flags.temporal !== undefined && !/^-?\d+$/.test(flags.temporal)) throw new CliError(`--temporal: expected a whole number of days, got "${flags.temporal}"`)
  const client = new GatewayClient(flags.gateway)
  const query = flags.temporal !== undefined ? `?temporal=${flags.temporal}` : ''
  const body = createReadStream(file).pipe(progressStream(size, 'upload', flags.progress))
  const env = await client.json<{ url: string }>('PUT', `/add_key/${keyPath(key)}${query}`, {
    body, headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' }
  })
  process.stdout.write(`${env.data.url}\n`)
}

/** `pmz get KEY [-o FILE]`: to stdout, or atomically to FILE. */
export async function get (key: string, flags: ClientFlags & { output?: string }): Promise<void> {
  const client = new GatewayClient(flags.gateway)
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
  const env = await new GatewayClient(flags.gateway).json<null>('DELETE', `/delete_key/${keyPath(key)}`)
  process.stdout.write(`${env.msg}\n`)
}

/** A row of admin/keys; a time that is no date comes as null (see the gateway's keyRow). */
interface KeyRow { key: string, size: number, created: string | null, expires: string | null }

/** `pmz ls [PREFIX]`: every live key under PREFIX, a page at a time. */
export async function ls (prefix: string | undefined, flags: ClientFlags): Promise<void> {
  const client = new GatewayClient(flags.gateway)
  const limit = 1000
  let after: string | undefined
  for (;;) {
    const q = new URLSearchParams({ limit: String(limit) })
    if (prefix !== undefined) q.set('prefix', prefix.startsWith('/') ? prefix : `/${prefix}`)
    if (after !== undefined) q.set('after', after)
    const env = await client.json<KeyRow[]>('GET', `/admin/keys?${q.toString()}`)
    for (const row of env.data) {
      process.stdout.write(`${String(row.size).padStart(12)}  ${row.created ?? '-'.padEnd(24)}  ${row.key}${row.expires !== null ? `  (expires ${row.expires})` : ''}\n`)
    }
    if (env.data.length < limit) return
    after = env.data[env.data.length - 1].key
  }
}

/** `pmz status` */
export async function status (flags: ClientFlags): Promise<void> {
  const env = await new GatewayClient(flags.gateway).json<Record<string, unknown>>('GET', '/admin/status')
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
