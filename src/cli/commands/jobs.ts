import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError, GatewayClient, readEnvelope } from '../client.js'
import { SseParser } from '../sse.js'
import { formatTable, type Column } from '../table.js'
import { listSchedules, scheduleStatesOf, scheduledOf, type ScheduleFlags } from './schedules.js'
import type { ClientFlags } from './storage.js'

/** How long `--wait` keeps reconnecting a broken event stream (a coordinator failing over), ms. */
const FOLLOW_RECONNECT_MS = 30_000
const RECONNECT_DELAY_MS = 500
/** Jobs `pmz jobs` lists when no --limit is given. */
const DEFAULT_LIST_LIMIT = 100

/** The `end` event's data: the job's detail as `admin/jobs/{id}` shows it. */
interface JobDetail { job: string, state: string | null, status: string | null, output: unknown, error: string | null, node: string | null }

/**
 * `pmz job launch DIR/SCRIPT [--args JSON] [--wait]`: prints the job id; with
 * `--wait`, follows the job's event stream to its end (progress on a
 * terminal, its log lines on stderr), prints its output and exits non-zero
 * when it failed or was cancelled. With `--every` or `--cron` (schedules.ts)
 * it records a schedule instead and prints the schedule's id.
 */
export async function launchJob (seed: string, flags: ClientFlags & ScheduleFlags & { args?: string, wait?: boolean }): Promise<void> {
  let body = flags.args ?? '{}'
  let parsed: unknown
  try { parsed = JSON.parse(body) } catch (err) { throw new CliError(`--args is not JSON: ${(err as Error).message}`) }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError('--args must be a JSON object')
  const scheduled = scheduledOf(flags)
  if (scheduled !== undefined) {
    if (flags.wait === true) throw new CliError('--wait follows one job; a schedule fires many (follow one with pmz jobs --state scheduled)')
    if ('scheduled' in parsed) throw new CliError('give the schedule in --args or with --every/--cron, not both')
    body = JSON.stringify({ ...parsed, scheduled })
  }
  const client = new GatewayClient(flags.gateway, flags.token)
  const path = `/launch_job/${seed.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`
  const env = await client.json<{ job_id: number }>('POST', path, { body: Readable.from([Buffer.from(body)]), headers: { 'content-type': 'application/json' } })
  const id = env.data.job_id
  if (flags.wait !== true) {
    process.stdout.write(`${id}\n`)
    return
  }
  process.stderr.write(`job ${id} launched\n`)
  const status = statusLine(id, process.stderr.isTTY)
  let job: JobDetail
  try {
    job = await followJob(client, id, (event, data) => {
      if (event === 'log') status.log(String(data.line))
      else if (event === 'state') status.update({ state: String(data.state) })
      else if (event === 'progress') status.update({ fraction: Number(data.fraction), text: typeof data.text === 'string' ? data.text : '' })
    })
  } finally {
    status.clear()
  }
  if (job.state === 'ready') {
    process.stdout.write(`${typeof job.output === 'string' ? job.output : JSON.stringify(job.output)}\n`)
    return
  }
  throw new CliError(`job ${id} ${job.state ?? 'is gone'}${job.error !== null && job.error !== undefined ? `: ${job.error}` : ''}`)
}

/**
 * Reads `GET /jobs/{id}/events` until its `end` event and answers its data;
 * `onEvent` hears the others. A stream that breaks (or a 503 while a
 * coordinator is elected) is opened again for up to FOLLOW_RECONNECT_MS: it
 * starts with the job's current state, so nothing is lost but log lines.
 */
async function followJob (client: GatewayClient, id: number, onEvent: (event: string, data: Record<string, unknown>) => void): Promise<JobDetail> {
  let brokenSince: number | undefined
  let why = ''
  for (;;) {
    try {
      const res = await client.send('GET', `/jobs/${id}/events`, { headers: { accept: 'text/event-stream' } })
      if (res.statusCode === 200) {
        brokenSince = undefined
        const parser = new SseParser()
        const decoder = new TextDecoder()
        for await (const chunk of res.body) {
          for (const e of parser.push(decoder.decode(chunk as Buffer, { stream: true }))) {
            const data = JSON.parse(e.data) as Record<string, unknown>
            if (e.event === 'end') {
              res.body.destroy()
              return data as unknown as JobDetail
            }
            onEvent(e.event, data)
          }
        }
        why = 'the event stream ended early'
      } else if (res.statusCode === 503) {
        why = await readEnvelope(res).then(() => 'HTTP 503', (err: Error) => err.message)
      } else {
        await readEnvelope(res)
        throw new CliError(`the gateway answered ${res.statusCode} to the event stream`)
      }
    } catch (err) {
      // A 4xx (unknown job, bad token) is final; a lost connection is worth another try.
      if (err instanceof CliError && !err.message.startsWith('cannot reach')) throw err
      why = (err as Error).message
    }
    brokenSince ??= Date.now()
    if (Date.now() - brokenSince > FOLLOW_RECONNECT_MS) throw new CliError(`lost job ${id}'s event stream: ${why}`)
    await sleep(RECONNECT_DELAY_MS)
  }
}

/** The line `--wait` keeps redrawn on a terminal (state, percent, text), with log lines printed above it. */
function statusLine (id: number, tty: boolean): { update(p: { state?: string, fraction?: number, text?: string }): void, log(line: string): void, clear(): void } {
  const now = { state: 'queued', fraction: undefined as number | undefined, text: '' }
  let shown = false
  const draw = (): void => {
    if (!tty) return
    const pct = now.fraction === undefined ? '' : ` ${Math.round(now.fraction * 100)}%`
    process.stderr.write(`\r\x1b[Kjob ${id} ${now.state}${pct}${now.text !== '' ? ` ${now.text}` : ''}`)
    shown = true
  }
  const clear = (): void => {
    if (shown) process.stderr.write('\r\x1b[K')
    shown = false
  }
  return {
    update (p) {
      Object.assign(now, p)
      draw()
    },
    log (line) {
      clear()
      process.stderr.write(`${line}\n`)
      draw()
    },
    clear
  }
}

/** A row of `admin/all_jobs`. */
interface JobRow {
  job_id: number
  seed: string
  state: string
  node: string | null
  attempt: number
  creation_time: string | null
  progress: { fraction: number, text?: string } | null
}

const JOB_COLUMNS: ReadonlyArray<Column<JobRow>> = [
  ['ID', j => String(j.job_id)],
  ['STATE', j => j.state],
  ['SEED', j => j.seed],
  ['NODE', j => j.node ?? '-'],
  ['ATTEMPT', j => String(j.attempt)],
  ['CREATED', j => (j.creation_time ?? '-').replace(/\+0000$/, '')],
  ['PROGRESS', j => progressCell(j.progress)]
]

/** `42% text` for a job that reported progress, else ''. */
export function progressCell (p: JobRow['progress']): string {
  if (p === null || p === undefined) return ''
  return `${Math.round(p.fraction * 100)}%${p.text !== undefined && p.text !== '' ? ` ${p.text}` : ''}`
}

/**
 * `pmz jobs [--state S[,S]] [--limit N] [--json]`: the newest jobs as a table
 * (or admin/all_jobs's data as JSON); schedule states (`scheduled`,
 * `canceled`, `done`) list the schedules instead (schedules.ts).
 */
export async function listJobs (flags: ClientFlags & { state?: string, limit?: string, json?: boolean }): Promise<void> {
  if (flags.limit !== undefined && !/^[1-9]\d{0,8}$/.test(flags.limit)) throw new CliError(`--limit: expected a whole number above 0, got "${flags.limit}"`)
  const scheduleStates = flags.state === undefined ? undefined : scheduleStatesOf(flags.state)
  if (scheduleStates !== undefined) {
    await listSchedules(scheduleStates, { ...flags, limit: flags.limit ?? String(DEFAULT_LIST_LIMIT) })
    return
  }
  const q = new URLSearchParams({ limit: flags.limit ?? String(DEFAULT_LIST_LIMIT) })
  if (flags.state !== undefined) q.set('state', flags.state)
  const env = await new GatewayClient(flags.gateway, flags.token).json<JobRow[]>('GET', `/admin/all_jobs?${q.toString()}`)
  if (flags.json === true) process.stdout.write(`${JSON.stringify(env.data)}\n`)
  else process.stdout.write(formatTable(JOB_COLUMNS, env.data))
}

/** `pmz job cancel ID`. */
export async function cancelJob (id: string, flags: ClientFlags): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<null>('POST', `/cancel_job/${jobId(id)}`)
  process.stdout.write(`${env.msg}\n`)
}

/** `pmz job retry ID`: runs a failed job again. */
export async function retryJob (id: string, flags: ClientFlags): Promise<void> {
  const env = await new GatewayClient(flags.gateway, flags.token).json<unknown>('POST', `/admin/jobs/${jobId(id)}/retry`)
  process.stdout.write(`${env.msg}\n`)
}

function jobId (id: string): string {
  if (!/^[1-9]\d{0,14}$/.test(id)) throw new CliError('a job id is a positive integer')
  return id
}
