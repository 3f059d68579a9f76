// Batches across faults (issue 16): on 4 peers with N=3 (every peer a voter
// and a worker, each key on three of them), a batch is running when a worker
// peer is kill -9'd, and another when the coordinator is. Every task must
// end done once (one ready attempt in its record), outputs must match the
// values' sha256, and no two runs of a task may overlap (the seed leaves
// each run's start and end in a shared evidence file).
// Needs `npm run build` (bin/pmz runs dist/).
import { createHash, randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, pool } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS } from '../helpers/jobs.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const KEYS = 400
const SEED = `import { appendFileSync, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
export default async (args, ctx) => {
  const run = { key: args.key, peer: ctx.peerId, start: Date.now() }
  appendFileSync(args.evidence, JSON.stringify(run) + '\\n')
  const bytes = readFileSync(ctx.dataFile)
  await new Promise(resolve => setTimeout(resolve, args.ms))
  appendFileSync(args.evidence, JSON.stringify({ ...run, end: Date.now() }) + '\\n')
  return createHash('sha256').update(bytes).digest('hex')
}
`
interface Task { key: string, state: string, output: unknown, attempts: Array<{ node: string, outcome: string | null }> }
interface Run { key: string, peer: string, start: number, end?: number }

describe('batches across a worker kill -9 and a coordinator kill -9 (issue 16)', () => {
  let peers: Peer[]
  let live: Peer[]
  const values = new Map<string, string>()
  let dir: string

  async function leader (): Promise<string | undefined> {
    const res = await http('GET', `${live[0].url}/admin/coordinator`).catch(() => undefined)
    return (res?.json?.data as { leader?: { peerId: string } } | undefined)?.leader?.peerId
  }
  async function summary (id: number): Promise<{ state: string, counts: Record<string, number> } | undefined> {
    for (const p of live) {
      const res = await http('GET', `${p.url}/admin/batches/${id}`).catch(() => undefined)
      if (res?.status === 200) return res.json?.data
    }
    return undefined
  }

  /** Launches a batch over every key, kills `victim()` once `afterDone` tasks are done, checks every task ended done once. */
  async function survives (name: string, victim: () => Promise<Peer>, afterDone: number): Promise<void> {
    const evidence = join(dir, `${name}.jsonl`)
    writeFileSync(evidence, '')
    const res = await http('POST', `${live[0].url}/launch_batch/f/sha`, JSON.stringify({ prefix: `fk/`, args: { evidence, ms: 30 }, locality: 'hard' }), JSON_HEADERS)
    expect(res.status, JSON.stringify(res.json)).toBe(200)
    const id = (res.json?.data as { batch_id: number }).batch_id
    await waitFor(async () => ((await summary(id))?.counts.done ?? 0) >= afterDone, 30_000, `${afterDone} tasks done`, 50)
    const dead = await victim()
    await killPeer(dead)
    live = live.filter(p => p !== dead)
    await waitFor(async () => (await summary(id))?.state === 'done', 90_000, 'the batch to end', 250)
    const tasks = (await http('GET', `${live[0].url}/admin/batches/${id}/tasks`)).json?.data as Task[]
    expect(tasks).toHaveLength(KEYS)
    let lost = 0
    for (const t of tasks) {
      expect(t.state).toBe('done')
      expect(t.output).toBe(createHash('sha256').update(values.get(t.key)!).digest('hex'))
      expect(t.attempts.filter(a => a.outcome === 'ready'), t.key).toHaveLength(1)
      lost += t.attempts.filter(a => a.outcome === 'lost').length
    }
    // No two runs of one task at the same time (a run of the killed peer ends with it).
    const runs = new Map<string, Run>()
    const byKey = new Map<string, Run[]>()
    for (const line of readFileSync(evidence, 'utf8').split('\n').filter(l => l !== '')) {
      const r = JSON.parse(line) as Run
      const id = `${r.key}|${r.peer}|${r.start}`
      if (r.end === undefined) runs.set(id, r)
      else (runs.get(id) as Run).end = r.end
    }
    for (const r of runs.values()) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r])
    for (const [key, rs] of byKey) {
      for (const a of rs) {
        for (const b of rs) if (a !== b && a.end !== undefined && b.end !== undefined) expect(a.start < b.end && b.start < a.end, `${key} ran twice at once`).toBe(false)
      }
    }
    // Back to four voters for the next fault. Port 0 gives it a new mesh port: it joins through a survivor.
    const args = dead.options.args ?? []
    const at = args.indexOf('--join')
    const own = at === -1 ? args : [...args.slice(0, at), ...args.slice(at + 2)]
    const back = await restartPeer(dead, { args: [...own, '--join', live[0].mesh] })
    live.push(back)
    await converged(live, live.map(p => p.id), 20_000)
    console.log(`${name}: ${lost} attempts lost and re-run, ${[...runs.values()].filter(r => r.end === undefined).length} runs cut by the kill`)
  }

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    dir = tempDir('pmz-batchf-evidence-')
    const dirs = [0, 1, 2, 3].map(i => {
      const seeds = tempDir(`pmz-batchf-${i}-`)
      mkdirSync(join(seeds, 'f'))
      writeFileSync(join(seeds, 'f/sha.mjs'), SEED)
      return seeds
    })
    const flags = (i: number): string[] => ['--seeds', dirs[i], '--replicas', '3', '--write-quorum', '2', '--job-slots', '3']
    const a = await startPeer({ cluster, args: flags(0) })
    peers = [a, ...await Promise.all([1, 2, 3].map(async i => await startPeer({ cluster, args: [...flags(i), '--join', a.mesh] })))]
    live = [...peers]
    await converged(peers, peers.map(p => p.id), 15_000)
    await waitFor(async () => {
      const rows = ((await http('GET', `${a.url}/admin/job_catalog`)).json?.data ?? []) as Array<{ path: string, peers: string[] }>
      return rows.find(r => r.path === 'f/sha')?.peers.length === 4
    }, 15_000, 'the seed on all four peers')
    await waitFor(async () => (await http('PUT', `${a.url}/add_key/warm/up`, 'x')).status === 201, 15_000, 'a writable store')
    const keys = Array.from({ length: KEYS }, (_, i) => `/fk/${String(i).padStart(4, '0')}`)
    await pool(keys, 16, async key => {
      values.set(key, `${key} ${randomUUID()}`)
      expect((await http('PUT', `${a.url}/add_key${key}`, values.get(key)!)).status).toBe(201)
    })
  }, 90_000)

  afterAll(cleanupPeers)

  it('a worker kill -9 mid-batch: its tasks run again on another replica, each ends done once', async () => {
    const lead = await leader()
    await survives('worker', async () => live.find(p => p.id !== lead) as Peer, 100)
  }, 150_000)

  it('a coordinator kill -9 mid-batch: no task is lost, none runs twice at once', async () => {
    await waitFor(async () => (await leader()) !== undefined, 15_000, 'a leader')
    await survives('coordinator', async () => {
      const id = await leader()
      return live.find(p => p.id === id) as Peer
    }, 100)
  }, 150_000)
})
