import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { CliError, GatewayClient } from '../client.js'
import type { ClientFlags } from './storage.js'

/** How often `--wait` asks for the job's state, ms. */
const WAIT_POLL_MS = 200

interface JobDetail { job: string, state: string, status: string, output: unknown, error: string | null, node: string | null }

/**
 * `pmz job launch DIR/SCRIPT [--args JSON] [--wait]`: prints the job id; with
 * `--wait`, follows the job to its end, prints its output and exits non-zero
 * when it failed or was cancelled.
 */
export async function launchJob (seed: string, flags: ClientFlags & { args?: string, wait?: boolean }): Promise<void> {
  const body = flags.args ?? '{}'
  let parsed: unknown
  try { parsed = JSON.parse(body) } catch (err) { throw new CliError(`--args is not JSON: ${(err as Error).message}`) }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError('--args must be a JSON object')
  const client = new GatewayClient(flags.gateway, flags.token)
  const path = `/launch_job/${seed.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`
  const env = await client.json<{ job_id: number }>('POST', path, { body: Readable.from([Buffer.from(body)]), headers: { 'content-type': 'application/json' } })
  const id = env.data.job_id
  if (flags.wait !== true) {
    process.stdout.write(`${id}\n`)
    return
  }
  process.stderr.write(`job ${id} launched\n`)
  for (;;) {
    const job = (await client.json<JobDetail>('GET', `/admin/jobs/${id}`)).data
    if (job.state === 'ready') {
      process.stdout.write(`${typeof job.output === 'string' ? job.output : JSON.stringify(job.output)}\n`)
      return
    }
    if (job.state === 'failed' || job.state === 'cancelled') throw new CliError(`job ${id} ${job.state}${job.error !== null ? `: ${job.error}` : ''}`)
    await sleep(WAIT_POLL_MS)
  }
}

/** `pmz job cancel ID`. */
export async function cancelJob (id: string, flags: ClientFlags): Promise<void> {
  if (!/^\d+$/.test(id)) throw new CliError('a job id is a positive integer')
  const env = await new GatewayClient(flags.gateway, flags.token).json<null>('POST', `/cancel_job/${id}`)
  process.stdout.write(`${env.msg}\n`)
}
