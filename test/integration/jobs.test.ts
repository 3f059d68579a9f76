// Jobs end to end (issue 14): launch over HTTP, placement by the coordinator,
// a worker peer runs the attempt and the job's output shows in admin/jobs/{id}.
// Needs `npm run build` (bin/pmz runs dist/).
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0
const JSON_HEADERS = { 'content-type': 'application/json' }

const HELLO = 'export default (args, ctx) => { ctx.log.info(`greeting ${args.name}`); return { hello: args.name, peer: ctx.peerId } }\n'
const TOOL = '#!/bin/sh\nread line\necho "stdin was $line" >&2\necho "{\\"sum\\": 3}"\n'
const WAIT = 'export default async (args, ctx) => { await new Promise(resolve => setTimeout(resolve, args.ms)); return ctx.peerId }\n'
const DOUBLE = 'from pulzarcore.core_jobs import CoreJobs\n\nclass Double(CoreJobs):\n    def execute(self):\n' +
  '        n = int(self.pulzar_parameters["number"])\n        self.pulzar_add_log("doubling")\n        self.pulzar_set_output("double: {}".format(n * 2))\n        return True\n'

interface Detail { job: string, status: string, state: string, output: unknown, log: string, node: string | null, error: string | null }

async function launch (peer: Peer, seed: string, args: unknown = {}): Promise<number> {
  const res = await http('POST', `${peer.url}/launch_job/${seed}`, JSON.stringify(args), JSON_HEADERS)
  expect(res.status, JSON.stringify(res.json)).toBe(200)
  const id = (res.json?.data as { job_id: number }).job_id
  expect(res.json?.msg).toBe(`Job added with id ${id}`)
  return id
}

async function detail (peer: Peer, id: number): Promise<Detail | undefined> {
  const res = await http('GET', `${peer.url}/admin/jobs/${id}`)
  return res.status === 200 ? res.json?.data as Detail : undefined
}

/** Waits until the job is in a final state; its detail. */
async function settled (peer: Peer, id: number, timeoutMs = 15_000): Promise<Detail> {
  let last: Detail | undefined
  await waitFor(async () => {
    last = await detail(peer, id)
    return last !== undefined && ['ready', 'failed', 'cancelled'].includes(last.state)
  }, timeoutMs, `job ${id} to end`)
  return last!
}

/** Waits until `peer`'s catalog lists `seed`. */
async function catalogued (peer: Peer, seed: string): Promise<void> {
  await waitFor(async () => {
    const res = await http('GET', `${peer.url}/admin/job_catalog`)
    return (res.json?.data as Array<{ path: string }> | undefined)?.some(r => r.path === seed) === true
  }, 15_000, `${seed} in the catalog`)
}

describe('jobs on one peer (issue 14)', () => {
  let a: Peer

  beforeAll(async () => {
    const seeds = tempDir('pmz-jobs-seeds-')
    mkdirSync(join(seeds, 'demo'))
    writeFileSync(join(seeds, 'demo/hello.mjs'), HELLO)
    writeFileSync(join(seeds, 'demo/tool.sh'), TOOL)
    chmodSync(join(seeds, 'demo/tool.sh'), 0o755)
    writeFileSync(join(seeds, 'demo/double.py'), DOUBLE)
    writeFileSync(join(seeds, 'demo/nap.sh'), '#!/bin/sh\nexec sleep 30\n')
    chmodSync(join(seeds, 'demo/nap.sh'), 0o755)
    writeFileSync(join(seeds, 'demo/fail.mjs'), 'export default () => { throw new Error("no luck") }\n')
    writeFileSync(join(seeds, 'demo/broken.mjs'), 'throw new Error("boom at import")\n')
    a = await startPeer({ args: ['--seeds', seeds, '--job-slots', '1'] })
    await catalogued(a, 'demo/nap')
  }, 30_000)

  afterAll(cleanupPeers)

  it('runs a JS module seed and shows its output and log', async () => {
    const id = await launch(a, 'demo/hello', { name: 'bob' })
    const job = await settled(a, id)
    expect(job).toMatchObject({ job: String(id), status: 'completed', state: 'ready', output: { hello: 'bob', peer: a.id }, node: a.id })
    expect(job.log).toContain('greeting bob')
  })

  it('runs an executable with the args on stdin, its stdout as the output', async () => {
    const job = await settled(a, await launch(a, 'demo/tool', { x: 1 }))
    expect(job).toMatchObject({ status: 'completed', output: { sum: 3 } })
    expect(job.log).toContain('stdin was {"x":1}')
  })

  it.skipIf(!HAS_PYTHON)('runs a Pulzar-style Python class', async () => {
    const job = await settled(a, await launch(a, 'demo/double', { number: 21 }))
    expect(job).toMatchObject({ status: 'completed', output: 'double: 42' })
    expect(job.log).toContain('doubling')
  })

  it('answers a repeated launch with the same Idempotency-Key with the same job', async () => {
    const headers = { ...JSON_HEADERS, 'idempotency-key': 'once-1' }
    const first = await http('POST', `${a.url}/launch_job/demo/hello`, '{"name":"x"}', headers)
    const again = await http('POST', `${a.url}/launch_job/demo/hello`, '{"name":"x"}', headers)
    expect((again.json?.data as { job_id: number }).job_id).toBe((first.json?.data as { job_id: number }).job_id)
  })

  it('lists jobs in Pulzar\'s buckets', async () => {
    const res = await http('GET', `${a.url}/admin/jobs?limit=50`)
    const data = res.json?.data as { pendings: unknown[], ready: Array<{ job_name: string, job_path: string, parameters: string, status: number }>, failed: unknown[] }
    expect(data.ready.find(j => j.parameters === '{"name":"bob"}')).toMatchObject({ job_name: 'hello', job_path: '/demo', status: 1 })
  })

  it('cancels a running job; with one slot the next job waits for it', async () => {
    const id = await launch(a, 'demo/nap')
    await waitFor(async () => (await detail(a, id))?.state === 'running', 10_000, 'nap to run')
    const next = await launch(a, 'demo/nap')
    expect((await detail(a, next))?.state).toBe('queued')
    const res = await http('POST', `${a.url}/cancel_job/${id}`)
    expect(res.json).toMatchObject({ status: 'ok', msg: `Job canceled with id ${id}` })
    expect((await settled(a, id, 10_000)).state).toBe('cancelled')
    expect((await http('POST', `${a.url}/cancel_job/${id}`)).status).toBe(200)
    await waitFor(async () => (await detail(a, next))?.state === 'running', 10_000, 'the queued nap to run')
    await http('POST', `${a.url}/cancel_job/${next}`)
    expect((await settled(a, next, 10_000)).state).toBe('cancelled')
  })

  it('pmz job launch --wait prints the output; a failing job exits 1 with its reason', async () => {
    const gw = ['--gateway', a.url]
    const okRun = await runCli(['job', 'launch', 'demo/hello', '--args', '{"name":"cli"}', '--wait', ...gw])
    expect(okRun.code, okRun.stderr).toBe(0)
    expect(JSON.parse(okRun.stdout.toString())).toMatchObject({ hello: 'cli' })
    const plain = await runCli(['job', 'launch', 'demo/hello', ...gw])
    expect(plain.stdout.toString()).toMatch(/^\d+\n$/)
    const bad = await runCli(['job', 'launch', 'demo/hello', '--args', '{nope', ...gw])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^pmz: --args is not JSON/)
    const failing = await runCli(['job', 'launch', 'demo/fail', '--wait', ...gw])
    expect(failing.code).toBe(1)
    expect(failing.stderr).toMatch(/^pmz: job \d+ failed: .*no luck/m)
    const missing = await runCli(['job', 'launch', 'demo/nope', '--wait', ...gw])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('pmz: seed demo/nope not found (HTTP 404)\n')
  })

  it('refuses what cannot be launched with a clear status', async () => {
    expect((await http('POST', `${a.url}/launch_job/demo/nope`, '{}', JSON_HEADERS)).status).toBe(404)
    const broken = await http('POST', `${a.url}/launch_job/demo/broken`, '{}', JSON_HEADERS)
    expect(broken.status).toBe(400)
    expect(broken.json?.msg).toContain('boom at import')
    expect((await http('POST', `${a.url}/launch_job/demo/hello`, '{bad', JSON_HEADERS)).status).toBe(400)
    expect((await http('POST', `${a.url}/launch_job/demo/hello`, '[1]', JSON_HEADERS)).status).toBe(400)
    expect((await http('GET', `${a.url}/launch_job/demo/hello`)).status).toBe(405)
    expect((await http('GET', `${a.url}/admin/jobs/999999`)).status).toBe(404)
    expect((await http('POST', `${a.url}/cancel_job/999999`)).status).toBe(404)
  })
})

describe('a job on a 3-peer cluster (issue 14)', () => {
  let peers: Peer[]

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    const only = tempDir('pmz-jobs-c-')
    const other = tempDir('pmz-jobs-b-')
    for (const dir of [only, other]) {
      mkdirSync(join(dir, 'remote'))
      writeFileSync(join(dir, 'remote/wait.mjs'), WAIT)
    }
    writeFileSync(join(only, 'remote/where.mjs'), 'export default (args, ctx) => ctx.peerId\n')
    const a = await startPeer({ cluster, args: ['--seeds', tempDir('pmz-jobs-a-')] })
    const join_ = ['--join', a.mesh]
    const [b, c] = await Promise.all([
      startPeer({ cluster, args: ['--seeds', other, ...join_] }),
      startPeer({ cluster, args: ['--seeds', only, ...join_] })
    ])
    peers = [a, b, c]
    await converged(peers, peers.map(p => p.id), 15_000)
    await catalogued(b, 'remote/where')
    await waitFor(async () => {
      const res = await http('GET', `${a.url}/admin/job_catalog`)
      return (res.json?.data as Array<{ path: string, peers: string[] }>).find(r => r.path === 'remote/wait')?.peers.length === 2
    }, 15_000, 'remote/wait on both workers')
  }, 40_000)

  afterAll(cleanupPeers)

  it('runs on the only peer holding the seed, launched from another', async () => {
    const [a, b, c] = peers
    let id = 0
    // The coordinator may still be forming: a launch is retried until one is elected.
    await waitFor(async () => {
      const res = await http('POST', `${b.url}/launch_job/remote/where`, '{}', JSON_HEADERS)
      id = (res.json?.data as { job_id?: number } | null)?.job_id ?? 0
      return res.status === 200
    }, 15_000, 'a launch to be accepted')
    const job = await settled(a, id)
    expect(job).toMatchObject({ status: 'completed', output: c.id, node: c.id })
  })

  it('re-runs elsewhere the job of a worker killed mid-run', async () => {
    const [a, b, c] = peers
    const id = await launch(a, 'remote/wait', { ms: 3000 })
    let first: Detail | undefined
    await waitFor(async () => (first = await detail(a, id))?.state === 'running', 10_000, 'the job to run')
    const victim = first!.node === b.id ? b : c
    const t0 = Date.now()
    await killPeer(victim)
    const job = await settled(a, id, 25_000)
    const survivor = victim === b ? c : b
    expect(job).toMatchObject({ status: 'completed', output: survivor.id, node: survivor.id })
    console.log(`killed worker's job ready on another peer ${Date.now() - t0} ms after the kill`)
  }, 35_000)
})

describe('a worker without the coordinator role (issue 14)', () => {
  let a: Peer
  let b: Peer

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    const seeds = tempDir('pmz-jobs-w-')
    mkdirSync(join(seeds, 'far'))
    writeFileSync(join(seeds, 'far/echo.mjs'), 'export default (args, ctx) => ({ args, peer: ctx.peerId })\n')
    a = await startPeer({ cluster, args: ['--seeds', tempDir('pmz-jobs-co-')] })
    b = await startPeer({ cluster, args: ['--seeds', seeds, '--role', 'volume,worker,gateway', '--join', a.mesh] })
    await converged([a, b], [a.id, b.id], 15_000)
    await catalogued(b, 'far/echo')
  }, 40_000)

  afterAll(cleanupPeers)

  it('runs the job and reports through the coordinator; its gateway forwards the job routes', async () => {
    let id = 0
    await waitFor(async () => {
      const res = await http('POST', `${b.url}/launch_job/far/echo`, '{"n":7}', JSON_HEADERS)
      id = (res.json?.data as { job_id?: number } | null)?.job_id ?? 0
      return res.status === 200
    }, 15_000, 'a launch through the worker\'s gateway')
    const job = await settled(b, id)
    expect(job).toMatchObject({ status: 'completed', node: b.id, output: { args: { n: 7 }, peer: b.id } })
  })
})
