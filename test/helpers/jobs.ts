// Jobs over HTTP for integration tests: launch, read, wait, follow.
import { request } from 'node:http'
import { expect } from 'vitest'
import { http, waitFor } from './http.js'
import type { Peer } from './peer.js'

export const JSON_HEADERS = { 'content-type': 'application/json' }

/** What admin/jobs/{id} answers. */
export interface JobDetail {
  job: string
  status: string
  state: string
  output: unknown
  log: string
  time: number | string
  node: string | null
  error: string | null
  attempts: Array<{ attempt: number, node: string, outcome: string | null }>
}

/** Launches `seed` through `peer`'s gateway (200 expected); the job id. */
export async function launch (peer: Peer, seed: string, args: unknown = {}): Promise<number> {
  const res = await http('POST', `${peer.url}/launch_job/${seed}`, JSON.stringify(args), JSON_HEADERS)
  expect(res.status, JSON.stringify(res.json)).toBe(200)
  return (res.json?.data as { job_id: number }).job_id
}

export async function detail (peer: Peer, id: number): Promise<JobDetail | undefined> {
  const res = await http('GET', `${peer.url}/admin/jobs/${id}`)
  return res.status === 200 ? res.json?.data as JobDetail : undefined
}

/** Waits until the job is in a final state; its detail. */
export async function settled (peer: Peer, id: number, timeoutMs = 15_000): Promise<JobDetail> {
  let last: JobDetail | undefined
  await waitFor(async () => {
    last = await detail(peer, id)
    return last !== undefined && ['ready', 'failed', 'cancelled'].includes(last.state)
  }, timeoutMs, `job ${id} to end`)
  return last!
}

/** Waits until `peer`'s catalog lists `seed`. */
export async function catalogued (peer: Peer, seed: string): Promise<void> {
  await waitFor(async () => {
    const res = await http('GET', `${peer.url}/admin/job_catalog`)
    return (res.json?.data as Array<{ path: string }> | undefined)?.some(r => r.path === seed) === true
  }, 15_000, `${seed} in the catalog`)
}

/** One server-sent event, its data parsed. */
export interface StreamEvent { event: string, data: any }

/** What a job's event stream gave: its status, content type, events, and whether the server closed it. */
export interface StreamResult { status: number, type: string, events: StreamEvent[], closed: boolean, body: string }

/**
 * Reads `GET {url}` as server-sent events until the server closes it or
 * `timeoutMs` passes; `onEvent` hears each as it comes (and may stop
 * reading by returning false).
 */
export async function readEvents (url: string, options: { timeoutMs: number, onEvent?: (e: StreamEvent) => boolean | void }): Promise<StreamResult> {
  const u = new URL(url)
  return await new Promise<StreamResult>((resolve, reject) => {
    const events: StreamEvent[] = []
    let body = ''
    let rest = ''
    let status = 0
    let type = ''
    const req = request({ host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}`, agent: false }, res => {
      status = res.statusCode ?? 0
      type = String(res.headers['content-type'] ?? '')
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
        rest += chunk
        let cut
        while ((cut = rest.indexOf('\n\n')) !== -1) {
          const frame = rest.slice(0, cut)
          rest = rest.slice(cut + 2)
          const event = /^event: (.*)$/m.exec(frame)?.[1]
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (event === undefined || data === undefined) continue
          const e = { event, data: JSON.parse(data) }
          events.push(e)
          if (options.onEvent?.(e) === false) finish(false)
        }
      })
      res.on('end', () => finish(true))
      res.on('error', () => finish(false))
    })
    const finish = (closed: boolean): void => {
      clearTimeout(timer)
      req.destroy()
      resolve({ status, type, events, closed, body })
    }
    const timer = setTimeout(() => finish(false), options.timeoutMs)
    req.on('error', reject)
    req.end()
  })
}
