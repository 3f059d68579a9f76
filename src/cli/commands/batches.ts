import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Presets, SingleBar } from 'cli-progress'
import { CliError, GatewayClient } from '../client.js'
import type { ClientFlags } from './storage.js'

/** How often `pmz job map` reads the batch while it runs, ms. */
const POLL_MS = 500
/** How long it keeps asking through errors (a coordinator failing over), ms. */
const UNREACHABLE_MS = 30_000

export interface MapFlags extends ClientFlags {
  prefix?: string
  keys?: string
  args?: string
  maxWorkers?: string
  perWorkerQueue?: string
  taskTimeout?: string
  maxTries?: string
  peers?: string
  locality?: string
  localityWait?: string
  maxPending?: string
  outputPrefix?: string
  detach?: boolean
  json?: boolean
  /** Draws the bar even when stderr is not a terminal (tests). */
  progress?: boolean
}

/** What admin/batches/{id} answers. */
interface Summary {
  batch_id: number
  state: string
  tasks: number
  listed: boolean
  counts: { pending: number, running: number, done: number, failed: number, cancelled: number }
  throughput_per_s: number
  eta_s: number | null
  elapsed_ms: number
  failures: Array<{ task_id: number, key: string | null, error: string | null, tries: number }>
}

/**
 * `pmz job map DIR/SCRIPT --prefix P | --keys K,K [--args JSON] [limits]`:
 * launches a batch (one task per key, on a replica of the key), shows a
 * progress bar on a terminal while it runs and prints its summary; exits 1
 * when a task failed or the batch was cancelled. `--detach` prints the
 * batch id and returns at once.
 */
export async function mapBatch (seed: string, flags: MapFlags): Promise<void> {
  const client = new GatewayClient(flags.gateway, flags.token)
  const path = `/launch_batch/${seed.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`
  const body = JSON.stringify(batchBody(flags))
  const env = await client.json<{ batch_id: number }>('POST', path, { body: Readable.from([Buffer.from(body)]), headers: { 'content-type': 'application/json' } })
  const id = env.data.batch_id
  if (flags.detach === true) {
    process.stdout.write(`${id}\n`)
    return
  }
  process.stderr.write(`batch ${id} launched\n`)
  const show = flags.progress ?? process.stderr.isTTY
  const bar = show
    ? new SingleBar({
      format: 'batch {id} {bar} {value}/{total} | {state} | failed {failed} | {rate}/s | ETA {eta_s}',
      stream: process.stderr, noTTYOutput: flags.progress === true, notTTYSchedule: POLL_MS, hideCursor: true
    }, Presets.shades_classic)
    : undefined
  let s: Summary
  try {
    bar?.start(1, 0, { id, state: 'listing', failed: 0, rate: 0, eta_s: '-' })
    s = await follow(client, id, now => {
      bar?.setTotal(Math.max(1, now.tasks))
      bar?.update(now.counts.done + now.counts.failed + now.counts.cancelled, {
        id, state: now.listed ? now.state : `listing (${now.tasks} keys)`, failed: now.counts.failed, rate: now.throughput_per_s, eta_s: now.eta_s === null ? '-' : `${now.eta_s}s`
      })
    })
  } finally {
    bar?.stop()
  }
  if (flags.json === true) process.stdout.write(`${JSON.stringify(s)}\n`)
  else process.stdout.write(summaryText(s))
  if (s.counts.failed > 0) throw new CliError(`batch ${id}: ${s.counts.failed} of ${s.tasks} tasks failed (pmz job retry ${id} runs them again)`)
  if (s.state === 'cancelled') throw new CliError(`batch ${id} was cancelled`)
}

/** The launch body from the flags; a bad flag is a one-line error. */
export function batchBody (flags: MapFlags): Record<string, unknown> {
  if ((flags.prefix === undefined) === (flags.keys === undefined)) throw new CliError('give --prefix P or --keys K1,K2,... (one of them)')
  const body: Record<string, unknown> = {}
  if (flags.prefix !== undefined) body.prefix = flags.prefix
  if (flags.keys !== undefined) body.keys = flags.keys.split(',').map(k => k.trim()).filter(k => k !== '')
  if (flags.args !== undefined) {
    let args: unknown
    try { args = JSON.parse(flags.args) } catch (err) { throw new CliError(`--args is not JSON: ${(err as Error).message}`) }
    if (args === null || typeof args !== 'object' || Array.isArray(args)) throw new CliError('--args must be a JSON object')
    body.args = args
  }
  const ints: Array<[keyof MapFlags, string, string]> = [
    ['maxWorkers', 'maxWorkers', '--max-workers'], ['perWorkerQueue', 'perWorkerQueue', '--per-worker-queue'], ['taskTimeout', 'taskTimeoutMs', '--task-timeout'],
    ['maxTries', 'maxTries', '--max-tries'], ['localityWait', 'localityWaitMs', '--locality-wait'], ['maxPending', 'maxPending', '--max-pending']
  ]
  for (const [flag, field, name] of ints) {
    const v = flags[flag]
    if (v === undefined) continue
    if (typeof v !== 'string' || !/^\d{1,12}$/.test(v)) throw new CliError(`${name}: expected a whole number, got "${String(v)}"`)
    body[field] = Number(v)
  }
  if (flags.locality !== undefined) {
    if (flags.locality !== 'hard' && flags.locality !== 'soft') throw new CliError('--locality: expected hard or soft')
    body.locality = flags.locality
  }
  if (flags.peers !== undefined) body.peers = flags.peers
  if (flags.outputPrefix !== undefined) body.outputPrefix = flags.outputPrefix
  return body
}

/** Reads the batch until it ends, through short outages. */
async function follow (client: GatewayClient, id: number, onSummary: (s: Summary) => void): Promise<Summary> {
  let failingSince: number | undefined
  for (;;) {
    try {
      const s = (await client.json<Summary>('GET', `/admin/batches/${id}`)).data
      failingSince = undefined
      onSummary(s)
      if (s.state === 'done' || s.state === 'cancelled') return s
    } catch (err) {
      if (err instanceof CliError && !/cannot reach|503/.test(err.message)) throw err
      failingSince ??= Date.now()
      if (Date.now() - failingSince > UNREACHABLE_MS) throw new CliError(`lost batch ${id}: ${(err as Error).message}`)
    }
    await sleep(POLL_MS)
  }
}

/** The summary as a few lines, failures last. */
export function summaryText (s: Summary): string {
  const c = s.counts
  const lines = [
    `batch ${s.batch_id} ${s.state}: ${c.done} done, ${c.failed} failed, ${c.cancelled} cancelled of ${s.tasks} tasks in ${(s.elapsed_ms / 1000).toFixed(1)} s (${s.throughput_per_s} tasks/s)`
  ]
  for (const f of s.failures) lines.push(`  failed ${f.key ?? `task ${f.task_id}`} after ${f.tries} tries: ${f.error ?? ''}`)
  if (c.failed > s.failures.length) lines.push(`  ... and ${c.failed - s.failures.length} more (GET /admin/batches/${s.batch_id}/tasks?state=failed)`)
  return `${lines.join('\n')}\n`
}
