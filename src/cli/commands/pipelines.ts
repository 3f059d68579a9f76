import { createReadStream, readFileSync, statSync } from 'node:fs'
import { Readable } from 'node:stream'
import { MAX_PRIORITY, MIN_PRIORITY, type PipelineStatus, type StagePeerStatus, type StageStatus } from '../../pipelines/types.js'
import { CliError, GatewayClient } from '../client.js'
import { formatTable, type Column } from '../table.js'
import type { ClientFlags } from './storage.js'

export interface InjectFlags { key?: string, priority?: string, json?: boolean }

/** The path of `POST /pipelines/inject/{tag}` with `key` and `priority` in the query (any key travels there, unlike in a header). */
export function injectPath (tag: string, flags: InjectFlags): string {
  if (tag === '' || tag.includes('/')) throw new CliError(`a tag is a name without "/", got "${tag}"`)
  const q = new URLSearchParams()
  if (flags.key !== undefined) {
    if (flags.key === '') throw new CliError('--key: expected a non-empty key')
    q.set('key', flags.key)
  }
  if (flags.priority !== undefined) {
    const p = /^\d$/.test(flags.priority.trim()) ? Number(flags.priority.trim()) : NaN
    if (!(p >= MIN_PRIORITY && p <= MAX_PRIORITY)) throw new CliError(`--priority: expected an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}, got "${flags.priority}"`)
    q.set('priority', String(p))
  }
  const query = q.toString()
  return `/pipelines/inject/${encodeURIComponent(tag)}${query === '' ? '' : `?${query}`}`
}

/**
 * `pmz inject TAG FILE|- [--key K] [--priority P] [--json]`: sends the file
 * (stdin with `-`) as one packet's payload, its bytes, or with `--json` its
 * JSON value (checked here first); prints the packet id.
 */
export async function inject (tag: string, file: string, flags: ClientFlags & InjectFlags): Promise<void> {
  const path = injectPath(tag, flags)
  let body: Readable
  const headers: Record<string, string> = {}
  if (flags.json === true) {
    const bytes = file === '-' ? await readAll(process.stdin) : readFile(file)
    try { JSON.parse(bytes.toString('utf8')) } catch (err) { throw new CliError(`${file === '-' ? 'stdin' : file} is not JSON: ${(err as Error).message}`) }
    body = Readable.from([bytes])
    headers['content-type'] = 'application/json'
  } else {
    if (file !== '-') checkFile(file)
    body = file === '-' ? process.stdin : createReadStream(file)
    headers['content-type'] = 'application/octet-stream'
  }
  const env = await new GatewayClient(flags.gateway, flags.token).json<{ id: string }>('POST', path, { body, headers })
  process.stdout.write(`${env.data.id}\n`)
}

/** The body of `POST /pipelines/events/{event}` from `--stages a,b` and `--args JSON` (undefined: none). */
export function eventBody (event: string, flags: { stages?: string, args?: string }): string | undefined {
  if (!/^[a-z][a-z0-9_-]*$/.test(event)) throw new CliError(`an event is start, pause, resume, stop, kill or a custom name of [a-z][a-z0-9_-]*, got "${event}"`)
  const body: { stages?: string[], args?: unknown } = {}
  if (flags.stages !== undefined) {
    const stages = flags.stages.split(',').map(s => s.trim()).filter(s => s !== '')
    if (stages.length === 0) throw new CliError('--stages: expected a comma-separated list of stage names')
    body.stages = stages
  }
  if (flags.args !== undefined) {
    try { body.args = JSON.parse(flags.args) } catch (err) { throw new CliError(`--args is not JSON: ${(err as Error).message}`) }
  }
  return Object.keys(body).length === 0 ? undefined : JSON.stringify(body)
}

/** `pmz pipeline events EVENT [--stages a,b] [--args JSON]`: prints the stages it reached. */
export async function sendEvent (event: string, flags: ClientFlags & { stages?: string, args?: string }): Promise<void> {
  const body = eventBody(event, flags)
  const env = await new GatewayClient(flags.gateway, flags.token).json<{ stages: string[] }>('POST', `/pipelines/events/${event}`,
    body === undefined ? {} : { body: Readable.from([Buffer.from(body)]), headers: { 'content-type': 'application/json' } })
  process.stdout.write(`${env.msg}${env.data.stages.length > 0 ? `: ${env.data.stages.join(', ')}` : ''}\n`)
}

/** `pmz pipeline redrive STAGE`: sends a stage's dead letters to it again. */
export async function redrive (stage: string, flags: ClientFlags): Promise<void> {
  const path = `/pipelines/dlq/${stage.replace(/^\/+|\/+$/g, '').split('/').map(encodeURIComponent).join('/')}/redrive`
  const env = await new GatewayClient(flags.gateway, flags.token).json<{ redriven: number }>('POST', path)
  process.stdout.write(`${env.msg}\n`)
}

/** One line of `pmz pipeline status`: a stage on one peer (or a stage no peer runs). */
export interface StageRow { stage: StageStatus, peer: StagePeerStatus | undefined }

export const STAGE_COLUMNS: ReadonlyArray<Column<StageRow>> = [
  ['STAGE', r => r.stage.stage],
  ['CONSUMES', r => r.stage.source ? '(source)' : r.stage.consumes.join(',')],
  ['PRODUCES', r => r.stage.produces ?? '-'],
  ['PEER', r => r.peer?.peerId ?? '-'],
  ['STATE', r => r.peer?.state ?? '-'],
  ['INST', r => r.peer === undefined ? '0' : String(r.peer.instances)],
  ['INBOX', r => r.peer === undefined ? '0' : String(r.peer.inbox)],
  ['RUNNING', r => r.peer === undefined ? '0' : String(r.peer.running)],
  ['DONE', r => r.peer === undefined ? '0' : String(r.peer.processed)],
  ['FAILED', r => r.peer === undefined ? '0' : String(r.peer.failed)],
  ['RATE/S', r => r.peer === undefined ? '0' : rate(r.peer.ratePerS)],
  ['DLQ', r => String(r.stage.deadLetters)],
  ['LAST ERROR', r => oneLine(r.peer?.errors[0] ?? '')]
]

/** Every stage on every peer, as table rows. */
export function stageRows (status: PipelineStatus): StageRow[] {
  return status.stages.flatMap<StageRow>(stage => stage.peers.length === 0 ? [{ stage, peer: undefined }] : stage.peers.map(peer => ({ stage, peer })))
}

/** `pmz pipeline status [--json]`: the graph as a table (admin/pipelines's data with --json). */
export async function pipelineStatus (flags: ClientFlags & { json?: boolean }): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<PipelineStatus>('GET', '/admin/pipelines')
  if (flags.json === true) process.stdout.write(`${JSON.stringify(env.data)}\n`)
  else process.stdout.write(formatStatus(env.data))
}

export function formatStatus (status: PipelineStatus): string {
  if (status.stages.length === 0) return 'no stages: no seed of the cluster consumes or produces a tag\n'
  return formatTable(STAGE_COLUMNS, stageRows(status))
}

function rate (r: number): string { return r >= 100 ? String(Math.round(r)) : String(Math.round(r * 10) / 10) }
function oneLine (s: string): string {
  const line = s.replace(/\s+/g, ' ').trim()
  return line.length > 60 ? `${line.slice(0, 59)}…` : line
}

function checkFile (file: string): void {
  try {
    if (!statSync(file).isFile()) throw new CliError(`${file} is not a file`)
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

function readFile (file: string): Buffer {
  checkFile(file)
  try { return readFileSync(file) } catch (err) { throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`) }
}

async function readAll (stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
  return Buffer.concat(parts)
}
