// Job views, retry, event stream and CLI (issue 14, pulzar-api.md §9.3):
// real peers, real seeds. Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { catalogued, detail, launch, readEvents, settled, type StreamEvent } from '../helpers/jobs.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const PULZAR_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000$/
// Waits for a gate file the test creates once it follows the job, then logs and reports three steps.
const STEPS = 'import { existsSync } from "node:fs"\n' +
  'const pause = ms => new Promise(resolve => setTimeout(resolve, ms))\n' +
  'export default async (args, ctx) => {\n' +
  '  while (args.gate !== undefined && !existsSync(args.gate)) await pause(20)\n' +
  '  for (let i = 1; i <= 3; i++) { ctx.log.info(`step ${i}`); ctx.progress(i / 4, `step ${i}`); await pause(550) }\n' +
  '  return "done"\n}\n'
// Fails the first time (no marker file yet), succeeds when run again.
const ONCE = 'import { existsSync, writeFileSync } from "node:fs"\n' +
  'export default (args) => { if (!existsSync(args.marker)) { writeFileSync(args.marker, "x"); throw new Error("first run fails") } return "second run" }\n'

function seedsDir (): string {
  const dir = tempDir('pmz-views-seeds-')
  mkdirSync(join(dir, 'demo'))
  writeFileSync(join(dir, 'demo/hello.mjs'), 'export default (args) => ({ hello: args.name ?? "x" })\n')
  writeFileSync(join(dir, 'demo/steps.mjs'), STEPS)
  writeFileSync(join(dir, 'demo/once.mjs'), ONCE)
  writeFileSync(join(dir, 'demo/nap.sh'), '#!/bin/sh\nexec sleep 30\n')
  chmodSync(join(dir, 'demo/nap.sh'), 0o755)
  return dir
}

/** Follows a job of `steps` with a gate: opens the gate once the stream said something. */
async function followSteps (peer: Peer, via: Peer): Promise<{ id: number, events: StreamEvent[], closed: boolean }> {
  const gate = join(tempDir('pmz-views-gate-'), 'open')
  const id = await launch(peer, 'demo/steps', { gate })
  const res = await readEvents(`${via.url}/jobs/${id}/events`, {
    timeoutMs: 20_000,
    onEvent: () => { writeFileSync(gate, '') }
  })
  expect(res.status).toBe(200)
  expect(res.type).toMatch(/^text\/event-stream/)
  return { id, events: res.events, closed: res.closed }
}

describe('job views, retry and events on one peer (issue 14)', () => {
  let a: Peer
  let ready: number
  let failed: number
  let running: number

  beforeAll(async () => {
    a = await startPeer({ args: ['--seeds', seedsDir(), '--job-slots', '2'] })
    await catalogued(a, 'demo/nap')
    ready = await launch(a, 'demo/hello', { name: 'bob' })
    failed = await launch(a, 'demo/once', { marker: join(tempDir('pmz-views-m-'), 'marker') })
    expect((await settled(a, ready)).state).toBe('ready')
    expect((await settled(a, failed)).state).toBe('failed')
    running = await launch(a, 'demo/nap')
    await waitFor(async () => (await detail(a, running))?.state === 'running', 10_000, 'nap to run')
  }, 40_000)

  afterAll(cleanupPeers)

  it('admin/jobs: Pulzar\'s buckets and fields, running under pendings', async () => {
    const res = await http('GET', `${a.url}/admin/jobs`)
    expect(res.json?.status).toBe('ok')
    const data = res.json?.data
    expect(Object.keys(data).sort()).toEqual(['failed', 'pendings', 'ready', 'scheduled'])
    expect(data.scheduled).toEqual([])
    const item = data.ready.find((j: { job_id: number }) => j.job_id === ready)
    expect(item).toMatchObject({ job_id: ready, job_name: 'hello', job_path: '/demo', seed: 'demo/hello', parameters: '{"name":"bob"}', node: a.id, status: 1, state: 'ready' })
    expect(item.creation_time).toMatch(PULZAR_TIME)
    expect(data.failed.find((j: { job_id: number }) => j.job_id === failed)).toMatchObject({ status: 2, state: 'failed' })
    expect(data.pendings.find((j: { job_id: number }) => j.job_id === running)).toMatchObject({ status: 0, state: 'running', node: a.id })
    const ok = (await http('GET', `${a.url}/admin/jobs/ok`)).json?.data
    expect(ok.ready.length).toBeGreaterThan(0)
    expect([...ok.pendings, ...ok.failed]).toEqual([])
    const bad = (await http('GET', `${a.url}/admin/jobs/failed`)).json?.data
    expect(bad.failed.map((j: { job_id: number }) => j.job_id)).toContain(failed)
    expect([...bad.pendings, ...bad.ready]).toEqual([])
  })

  it('admin/all_jobs[/ok|/failed]: newest first, Pulzar\'s status words, limit and filter in any order', async () => {
    const all = (await http('GET', `${a.url}/admin/all_jobs`)).json?.data as Array<{ job_id: number, status: string, creation_time: string }>
    expect(all.map(j => j.job_id)).toEqual([...all.map(j => j.job_id)].sort((x, y) => y - x))
    expect(all.find(j => j.job_id === ready)).toMatchObject({ job_name: 'hello', status: 'completed', node: a.id })
    expect(all.find(j => j.job_id === running)).toMatchObject({ status: 'pending', state: 'running' })
    expect(all[0].creation_time).toMatch(PULZAR_TIME)
    for (const q of ['?limit=2&filter=state', '?filter=state&limit=2']) {
      const res = await http('GET', `${a.url}/admin/all_jobs${q}`)
      expect(res.status, q).toBe(200)
      expect((res.json?.data as unknown[]).length).toBe(2)
    }
    const okOnly = (await http('GET', `${a.url}/admin/all_jobs/ok`)).json?.data as Array<{ status: string }>
    expect(okOnly.every(j => j.status === 'completed')).toBe(true)
    const failedOnly = (await http('GET', `${a.url}/admin/all_jobs/failed?limit=1`)).json?.data as Array<{ job_id: number }>
    expect(failedOnly.map(j => j.job_id)).toEqual([failed])
    const byState = (await http('GET', `${a.url}/admin/all_jobs?state=running,queued`)).json?.data as Array<{ job_id: number }>
    expect(byState.map(j => j.job_id)).toEqual([running])
  })

  it('admin/jobs/{id}: Pulzar\'s detail, the pending form, ?filter=state', async () => {
    const done = (await http('GET', `${a.url}/admin/jobs/${ready}`)).json?.data
    expect(done).toMatchObject({ job: String(ready), status: 'completed', output: { hello: 'bob' }, node: a.id, job_name: 'hello' })
    expect(typeof done.time).toBe('number')
    expect(typeof done.log).toBe('string')
    expect(done.creation_time).toMatch(PULZAR_TIME)
    expect((await http('GET', `${a.url}/admin/jobs/${running}`)).json?.data).toMatchObject({ job: String(running), log: 'na', time: 'na', status: 'pending', state: 'running' })
    for (const q of [`${ready}?filter=state`, `${ready}?filter=state&limit=3`, `${ready}?limit=3&filter=state`, `ok/${ready}?filter=state`]) {
      const res = await http('GET', `${a.url}/admin/jobs/${q}`)
      expect(res.json?.data, q).toEqual({ job: String(ready), status: 'completed', state: 'ready' })
    }
    expect((await http('GET', `${a.url}/admin/jobs/${failed}?filter=state`)).json?.data).toMatchObject({ status: 'failed' })
  })

  it('refuses bad input with a status and an envelope', async () => {
    for (const path of ['/admin/jobs?limit=0', '/admin/jobs?limit=abc', '/admin/all_jobs?limit=-1', '/admin/all_jobs?limit=1&limit=2',
      `/admin/jobs/${ready}?filter=nope`, '/admin/all_jobs?filter=job_name', '/admin/all_jobs?state=bogus', '/admin/jobs/abc', '/admin/jobs/0', '/jobs/abc/events']) {
      const res = await http('GET', `${a.url}${path}`)
      expect(res.status, path).toBe(400)
      expect(res.json, path).toMatchObject({ status: 'ko', data: null })
      expect(res.json?.msg, path).not.toBe('')
    }
    for (const [method, path] of [['GET', '/admin/jobs/999999'], ['GET', '/admin/jobs/ok/999999'], ['POST', '/admin/jobs/999999/retry'], ['GET', '/jobs/999999/events']]) {
      const res = await http(method, `${a.url}${path}`)
      expect(res.status, path).toBe(404)
      expect(res.json, path).toMatchObject({ status: 'ko', msg: 'job id not found' })
    }
    expect((await http('GET', `${a.url}/admin/jobs/${failed}/retry`)).status).toBe(405)
    expect((await http('POST', `${a.url}/jobs/${ready}/events`)).status).toBe(405)
    expect((await http('HEAD', `${a.url}/jobs/${running}/events`)).status).toBe(200)
    expect((await http('HEAD', `${a.url}/jobs/999999/events`)).status).toBe(404)
  })

  it('retries a failed job (409 for one that is not failed)', async () => {
    for (const id of [ready, running]) {
      const res = await http('POST', `${a.url}/admin/jobs/${id}/retry`)
      expect(res.status).toBe(409)
      expect(res.json).toMatchObject({ status: 'ko', data: null })
    }
    const res = await http('POST', `${a.url}/admin/jobs/${failed}/retry`)
    expect(res.json).toEqual({ data: { job_id: failed }, status: 'ok', msg: `Job retried with id ${failed}` })
    const job = await settled(a, failed)
    expect(job).toMatchObject({ state: 'ready', output: 'second run' })
    expect(job.attempts.map(t => t.outcome)).toEqual(['failed', 'ready'])
  })

  it('streams a job\'s state, log lines and progress, then its detail, and closes', async () => {
    const { id, events, closed } = await followSteps(a, a)
    expect(closed).toBe(true)
    const names = events.map(e => e.event)
    expect(names[0]).toBe('state')
    expect(names.at(-1)).toBe('end')
    expect(events.filter(e => e.event === 'state').map(e => e.data.state)).toContain('running')
    expect(events.filter(e => e.event === 'log').map(e => e.data.line)).toEqual(['step 1', 'step 2', 'step 3'])
    expect(events.filter(e => e.event === 'progress').map(e => e.data.fraction)).toEqual([0.25, 0.5, 0.75])
    expect(events.at(-1)!.data).toMatchObject({ job: String(id), status: 'completed', state: 'ready', output: 'done', log: 'step 1\nstep 2\nstep 3' })
    // A job that has ended: its state and the end at once.
    const again = await readEvents(`${a.url}/jobs/${id}/events`, { timeoutMs: 5000 })
    expect(again.events.map(e => e.event)).toEqual(['state', 'end'])
    expect(again.closed).toBe(true)
  })

  it('pmz jobs lists a table (or JSON), pmz job retry retries, pmz job launch --wait follows the stream', async () => {
    const gw = ['--gateway', a.url]
    const table = await runCli(['jobs', '--state', 'running', ...gw])
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.toString().trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+STATE\s+SEED\s+NODE\s+ATTEMPT\s+CREATED\s+PROGRESS$/)
    expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${running}\\s+running\\s+demo/nap\\s+${a.id}\\s+1\\s+\\d{4}-`))])
    const json = await runCli(['jobs', '--json', '--limit', '2', ...gw])
    expect(json.code, json.stderr).toBe(0)
    expect((JSON.parse(json.stdout.toString()) as unknown[]).length).toBe(2)
    const badLimit = await runCli(['jobs', '--limit', 'x', ...gw])
    expect(badLimit.code).toBe(1)
    expect(badLimit.stderr).toBe('pmz: --limit: expected a whole number above 0, got "x"\n')
    const badState = await runCli(['jobs', '--state', 'sleeping', ...gw])
    expect(badState.code).toBe(1)
    expect(badState.stderr).toMatch(/^pmz: state must be .*\(HTTP 400\)\n$/)

    const marker = join(tempDir('pmz-views-m-'), 'marker')
    const id = await launch(a, 'demo/once', { marker })
    expect((await settled(a, id)).state).toBe('failed')
    const retried = await runCli(['job', 'retry', String(id), ...gw])
    expect(retried.code, retried.stderr).toBe(0)
    expect(retried.stdout.toString()).toBe(`Job retried with id ${id}\n`)
    expect((await settled(a, id)).state).toBe('ready')
    const twice = await runCli(['job', 'retry', String(id), ...gw])
    expect(twice.code).toBe(1)
    expect(twice.stderr).toMatch(/^pmz: .*\(HTTP 409\)\n$/)
    expect((await runCli(['job', 'retry', 'x1', ...gw])).stderr).toBe('pmz: a job id is a positive integer\n')

    const waited = await runCli(['job', 'launch', 'demo/steps', '--wait', ...gw])
    expect(waited.code, waited.stderr).toBe(0)
    expect(waited.stdout.toString()).toBe('done\n')
    expect(waited.stderr).toMatch(/^job \d+ launched\n/)
    expect(waited.stderr).toContain('step 3\n')
    expect(waited.stderr).not.toContain('\x1b[')
  })
})

describe('job views and events through a peer without the coordinator role (issue 14)', () => {
  let a: Peer
  let b: Peer

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    a = await startPeer({ cluster, args: ['--seeds', tempDir('pmz-views-co-')] })
    b = await startPeer({ cluster, args: ['--seeds', seedsDir(), '--role', 'volume,worker,gateway', '--join', a.mesh] })
    await converged([a, b], [a.id, b.id], 15_000)
    await catalogued(b, 'demo/steps')
    // The coordinator may still be forming: wait until a view answers through b.
    await waitFor(async () => (await http('GET', `${b.url}/admin/jobs`)).status === 200, 15_000, 'admin/jobs through the worker')
  }, 40_000)

  afterAll(cleanupPeers)

  it('serves the views, retry and the event stream, forwarded to the coordinator', async () => {
    const { id, events, closed } = await followSteps(b, b)
    expect(closed).toBe(true)
    expect(events.filter(e => e.event === 'log').map(e => e.data.line)).toEqual(['step 1', 'step 2', 'step 3'])
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { job: String(id), status: 'completed', node: b.id } })
    expect((await http('GET', `${b.url}/admin/all_jobs/ok?limit=1`)).json?.data).toMatchObject([{ job_id: id, node: b.id }])
    expect((await http('GET', `${b.url}/jobs/999999/events`)).status).toBe(404)
    expect((await http('POST', `${b.url}/admin/jobs/${id}/retry`)).status).toBe(409)
    const waited = await runCli(['job', 'launch', 'demo/hello', '--args', '{"name":"far"}', '--wait', '--gateway', b.url])
    expect(waited.code, waited.stderr).toBe(0)
    expect(JSON.parse(waited.stdout.toString())).toEqual({ hello: 'far' })
  })

  it('launches through the worker and reads the same job from the coordinator', async () => {
    const id = await launch(b, 'demo/hello', { name: 'both' })
    expect((await settled(a, id)).output).toEqual({ hello: 'both' })
    expect(await detail(b, id)).toMatchObject({ job: String(id), status: 'completed' })
  })
})
