// Batch jobs end to end (issue 16): on 4 peers with N=3, a batch over 1,000
// stored keys runs one task per key on a peer that holds the key
// (asserted from the task records against each peer's own store), computing
// the sha256 of its value from ctx.dataFile; maxWorkers 1 holds; a throwing
// task's failures are listed and re-driven by retry; cancel stops a batch.
// Needs `npm run build` (bin/pmz runs dist/).
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, liveKeysOnDisk, pool } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, readEvents } from '../helpers/jobs.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const KEYS = 1000
const SHA = `import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
export default (args, ctx) => {
  const bytes = readFileSync(ctx.dataFile)
  if (bytes.toString().startsWith('bad')) throw new Error('bad value in ' + args.key)
  return { sha256: createHash('sha256').update(bytes).digest('hex'), peer: ctx.peerId, key: args.key, tag: args.tag }
}
`
const SLOW = 'export default async (args, ctx) => { await new Promise(r => setTimeout(r, args.ms)); return ctx.peerId }\n'

interface Attempt { attempt: number, node: string, outcome: string | null, assigned_at: number, ended_at: number | null }
interface Task { task_id: number, key: string, state: string, tries: number, node: string | null, output: any, error: string | null, attempts: Attempt[] }
interface Summary { batch_id: number, state: string, tasks: number, listed: boolean, counts: Record<string, number>, throughput_per_s: number, failures: Array<{ task_id: number, key: string, error: string }> }

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex')

describe('batch jobs on 4 peers with N=3 (issue 16)', () => {
  let peers: Peer[]
  const values = new Map<string, string>()
  const holders = new Map<string, string[]>()

  async function launchBatch (body: unknown, seed = 'b/sha'): Promise<number> {
    const res = await http('POST', `${peers[1].url}/launch_batch/${seed}`, JSON.stringify(body), JSON_HEADERS)
    expect(res.status, JSON.stringify(res.json)).toBe(200)
    return (res.json?.data as { batch_id: number }).batch_id
  }
  async function summary (id: number): Promise<Summary> {
    const res = await http('GET', `${peers[2].url}/admin/batches/${id}`)
    expect(res.status).toBe(200)
    return res.json?.data as Summary
  }
  async function ended (id: number, timeoutMs = 30_000): Promise<Summary> {
    let last: Summary | undefined
    await waitFor(async () => ['done', 'cancelled'].includes((last = await summary(id)).state), timeoutMs, `batch ${id} to end`, 200)
    return last!
  }
  async function tasks (id: number, query = ''): Promise<Task[]> {
    const res = await http('GET', `${peers[0].url}/admin/batches/${id}/tasks${query}`)
    expect(res.status).toBe(200)
    return res.json?.data as Task[]
  }

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    const dirs = [0, 1, 2, 3].map(i => {
      const seeds = tempDir(`pmz-batch-${i}-`)
      mkdirSync(join(seeds, 'b'))
      writeFileSync(join(seeds, 'b/sha.mjs'), SHA)
      writeFileSync(join(seeds, 'b/slow.mjs'), SLOW)
      return seeds
    })
    // W = N = 3: every replica holds a key once its write is acknowledged (the holders read below are complete).
    const flags = (i: number): string[] => ['--seeds', dirs[i], '--replicas', '3', '--write-quorum', '3', '--job-slots', '4']
    const a = await startPeer({ cluster, args: flags(0) })
    peers = [a, ...await Promise.all([1, 2, 3].map(async i => await startPeer({ cluster, args: [...flags(i), '--join', a.mesh] })))]
    await converged(peers, peers.map(p => p.id), 15_000)
    await waitFor(async () => {
      const rows = ((await http('GET', `${a.url}/admin/job_catalog`)).json?.data ?? []) as Array<{ path: string, peers: string[] }>
      return ['b/sha', 'b/slow'].every(s => rows.find(r => r.path === s)?.peers.length === 4)
    }, 15_000, 'the seeds on all four peers')
    await waitFor(async () => (await http('PUT', `${a.url}/add_key/warm/up`, 'x')).status === 201, 15_000, 'a writable store')
    const keys = Array.from({ length: KEYS }, (_, i) => `/bk/${String(i).padStart(4, '0')}.txt`)
    const t0 = Date.now()
    await pool(keys, 48, async key => {
      const value = `value of ${key} ${randomUUID()}`
      values.set(key, value)
      const res = await http('PUT', `${peers[keys.indexOf(key) % 4].url}/add_key${key}`, value)
      expect(res.status).toBe(201)
    })
    console.log(`${KEYS} keys stored in ${Date.now() - t0} ms`)
    const onDisk = peers.map(p => new Set(liveKeysOnDisk(p.dataDir)))
    for (const key of keys) holders.set(key, peers.filter((_, i) => onDisk[i].has(key)).map(p => p.id))
  }, 90_000)

  afterAll(cleanupPeers)

  it('runs one task per key under a prefix, each on a peer holding its key; the outputs are the values\' sha256', async () => {
    const t0 = Date.now()
    const id = await launchBatch({ prefix: 'bk/', args: { tag: 't1' }, outputPrefix: 'bout/', maxTries: 2, locality: 'hard' })
    const answeredMs = Date.now() - t0
    const s = await ended(id, 100_000)
    expect(s).toMatchObject({ state: 'done', listed: true, tasks: KEYS, counts: { pending: 0, running: 0, done: KEYS, failed: 0, cancelled: 0 } })
    expect(s.throughput_per_s).toBeGreaterThan(0)
    const all = await tasks(id)
    expect(all.map(t => t.key).sort()).toEqual([...values.keys()].sort())
    for (const t of all) {
      expect(t.state, t.error ?? '').toBe('done')
      expect(t.output).toMatchObject({ sha256: sha(values.get(t.key)!), key: t.key, tag: 't1', peer: t.node })
      // Every attempt ran on a replica of the key: its bytes never crossed the mesh.
      for (const a of t.attempts) expect(holders.get(t.key), `${t.key} on ${a.node}`).toContain(a.node)
    }
    // outputPrefix: each output is a key too.
    const got = await http('GET', `${peers[0].url}/get_key/bout/bk/0007.txt`)
    expect(got.status).toBe(200)
    expect(JSON.parse(got.body.toString())).toMatchObject({ sha256: sha(values.get('/bk/0007.txt')!) })
    const listed = await http('GET', `${peers[0].url}/admin/batches`)
    expect((listed.json?.data as Summary[]).some(b => b.batch_id === id)).toBe(true)
    // Every peer worked on it (each holds three quarters of the keys).
    expect(new Set(all.map(t => t.node)).size).toBe(4)
    console.log(`batch of ${KEYS} keys: answered in ${answeredMs} ms, ${s.throughput_per_s} tasks/s`)
  }, 120_000)

  it('honours maxWorkers: 1 — no two peers run tasks of the batch at the same time', async () => {
    const keys = [...values.keys()].slice(0, 40)
    const id = await launchBatch({ keys, maxWorkers: 1, localityWaitMs: 200 })
    const s = await ended(id)
    expect(s.counts.done).toBe(40)
    const spans = (await tasks(id)).flatMap(t => t.attempts.map(a => ({ node: a.node, from: a.assigned_at, to: a.ended_at ?? Infinity })))
    for (const x of spans) {
      for (const y of spans) {
        if (x.node !== y.node) expect(x.from < y.to && y.from < x.to, `${x.node} and ${y.node} overlap`).toBe(false)
      }
    }
  }, 40_000)

  it('lists the failures of a throwing task with their errors, and retry re-drives them', async () => {
    const keys = Array.from({ length: 10 }, (_, i) => `/bf/${i}`)
    for (const [i, key] of keys.entries()) expect((await http('PUT', `${peers[0].url}/add_key${key}`, i % 4 === 0 ? 'bad' : `good ${i}`)).status).toBe(201)
    const id = await launchBatch({ keys, maxTries: 2 })
    const s = await ended(id)
    expect(s.counts).toMatchObject({ done: 7, failed: 3 })
    expect(s.failures.map(f => f.key).sort()).toEqual(['/bf/0', '/bf/4', '/bf/8'])
    expect(s.failures.every(f => f.error.includes('bad value in'))).toBe(true)
    const failed = await tasks(id, '?state=failed')
    expect(failed.map(t => [t.key, t.tries])).toEqual([['/bf/0', 2], ['/bf/4', 2], ['/bf/8', 2]])
    // The retry prefers the other replica, but takes the same one when the other has no free slot at that moment
    // (a preference, pinned by batch-rules.test.ts): here only that it was tried twice is certain.
    for (const t of failed) expect(t.attempts).toHaveLength(2)
    for (const key of ['/bf/0', '/bf/4', '/bf/8']) {
      expect((await http('DELETE', `${peers[0].url}/delete_key${key}`)).status).toBe(200)
      expect((await http('PUT', `${peers[0].url}/add_key${key}`, 'fixed')).status).toBe(201)
    }
    expect((await http('POST', `${peers[2].url}/admin/jobs/${id}/retry`)).status).toBe(200)
    await waitFor(async () => (await summary(id)).counts.done === 10, 20_000, 'the retried tasks to end', 200)
  }, 40_000)

  it('cancel stops a batch cluster-wide: the waiting tasks are cancelled, the running ones aborted', async () => {
    const id = await launchBatch({ keys: [...values.keys()].slice(0, 60), args: { ms: 5000 } }, 'b/slow')
    await waitFor(async () => (await summary(id)).counts.running > 0, 15_000, 'tasks to run', 100)
    expect((await http('POST', `${peers[0].url}/cancel_job/${id}`)).status).toBe(200)
    const s = await ended(id, 15_000)
    expect(s.state).toBe('cancelled')
    expect(s.counts.cancelled).toBe(60)
  }, 40_000)

  it('pmz job map: a progress bar while it runs, the summary at the end; exit 1 with the failures listed', async () => {
    const gw = ['--gateway', peers[0].url]
    const ok = await runCli(['job', 'map', 'b/sha', '--prefix', 'bk/00', '--locality', 'hard', '--max-tries', '2', '--progress', ...gw])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout.toString()).toMatch(/^batch \d+ done: 100 done, 0 failed, 0 cancelled of 100 tasks in [\d.]+ s/)
    expect(ok.stderr).toMatch(/batch \d+ .*\d+\/100/)
    const bad = await runCli(['job', 'map', 'b/sha', '--keys', '/bk/0001.txt,/bf-cli/x', '--max-tries', '1', ...gw])
    expect(bad.code).toBe(1)
    expect(bad.stdout.toString()).toContain('failed /bf-cli/x after 1 tries')
    expect(bad.stderr).toMatch(/1 of 2 tasks failed/)
    const usage = await runCli(['job', 'map', 'b/sha', ...gw])
    expect(usage.code).not.toBe(0)
    expect(usage.stderr).toContain('--prefix')
  }, 40_000)

  it('streams a batch\'s progress as server-sent events, then its summary, and closes', async () => {
    const id = await launchBatch({ keys: [...values.keys()].slice(0, 48), args: { ms: 250 }, perWorkerQueue: 0 }, 'b/slow')
    const got = await readEvents(`${peers[2].url}/admin/batches/${id}/events`, { timeoutMs: 30_000 })
    expect(got.status).toBe(200)
    expect(got.type).toContain('text/event-stream')
    expect(got.closed).toBe(true)
    const progress = got.events.filter(e => e.event === 'progress').map(e => e.data.counts.done as number)
    expect(progress.length).toBeGreaterThan(1)
    expect(progress).toEqual([...progress].sort((a, b) => a - b))
    const end = got.events[got.events.length - 1]
    expect(end).toMatchObject({ event: 'end', data: { batch_id: id, state: 'done', counts: { done: 48 }, failures: [] } })
    expect((await http('GET', `${peers[0].url}/admin/batches/999999/events`)).status).toBe(404)
  }, 40_000)

  it('refuses bad batches with a clear 400 or 404', async () => {
    const url = `${peers[0].url}/launch_batch/b/sha`
    for (const body of [{}, { prefix: 'a/', keys: ['/a'] }, { prefix: 'a/', maxWorker: 1 }, { prefix: 'a/', maxWorkers: 0 }, { keys: [] },
      { keys: ['/bad key'] }, { prefix: 'a/', locality: 'near' }, { prefix: 'a/', outputPrefix: 'a/out/' }, { prefix: 'a/', args: [] }]) {
      const res = await http('POST', url, JSON.stringify(body), JSON_HEADERS)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json).toMatchObject({ status: 'ko', data: null })
    }
    expect((await http('POST', `${peers[0].url}/launch_batch/b/none`, '{"prefix":"a/"}', JSON_HEADERS)).status).toBe(404)
    expect((await http('GET', `${peers[0].url}/admin/batches/999999`)).status).toBe(404)
    expect((await http('GET', `${peers[0].url}/admin/batches/1/tasks?state=sleeping`)).status).toBe(400)
  })
})
