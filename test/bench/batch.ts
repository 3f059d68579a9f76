// Issue 16's benchmark: a batch over KEYS stored keys of 64 KB on 3 peers (N=2, W=2, so that a peer
// holds about two thirds of the keys and locality matters), with a no-op and with a sha256 task, beside
// the same work as plain one-off jobs that fetch their key over HTTP from a gateway.
import { availableParallelism } from 'node:os'
import { Pool } from 'undici'
import { liveKeysOnDisk } from '../helpers/cluster.js'
import { waitFor } from '../helpers/http.js'
import { cleanupPeers, type Peer } from '../helpers/peer.js'
import { allSettled } from './jobs.js'
import { NOOP, SLOTS, startJobPeers, stopForProfile } from './jobs-peers.js'
import { fmt, treeCpuSeconds, wallMs } from './lib.js'

const KEYS = Number(process.env.PMZ_BENCH_BATCH_KEYS ?? 10_000)
const SIZE = 64 * 1024
const PREFIX = '/bb/'
/** Tasks run first with each seed (not measured) so that every peer has its job children forked, as the jobs bench does. */
const WARMUP = Number(process.env.PMZ_BENCH_WARMUP ?? 3 * 2 * 64)
const ONLY = process.env.PMZ_BENCH_ONLY?.split(',')
const only = (part: string): boolean => ONLY === undefined || ONLY.includes(part)

// Batch tasks read ctx.dataFile (the worker copied or fetched it); each reports its start time and the bytes it saw.
const TASK = (hash: boolean): string => `import { readFileSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
export default (args, ctx) => {
  const t = performance.timeOrigin + performance.now()
  ${hash ? 'const bytes = readFileSync(ctx.dataFile); const sha = createHash(\'sha256\').update(bytes).digest(\'hex\'); return { t, n: bytes.length, sha: sha.slice(0, 8) }' : 'return { t, n: statSync(ctx.dataFile).size }'}
}
`
// The baseline's jobs: the same work, the key fetched over HTTP from the gateway in args.
const FETCH = (hash: boolean): string => `import { createHash } from 'node:crypto'
export default async (args) => {
  const t = performance.timeOrigin + performance.now()
  const res = await fetch(args.base + '/get_key' + args.key)
  const bytes = Buffer.from(await res.arrayBuffer())
  if (res.status !== 200) throw new Error('get_key ' + args.key + ': ' + res.status)
  ${hash ? 'const sha = createHash(\'sha256\').update(bytes).digest(\'hex\'); return { t, n: bytes.length, sha: sha.slice(0, 8) }' : 'return { t, n: bytes.length }'}
}
`
const SEEDS = { noop: NOOP, task_noop: TASK(false), task_sha: TASK(true), fetch_noop: FETCH(false), fetch_sha: FETCH(true) }

interface Run { name: string, tasks: number, seconds: number, firstMs: number, localBytes: number, meshBytes: number, notDone: number, cpuUs: number }

const keyOf = (i: number): string => `${PREFIX}${String(i).padStart(6, '0')}`
const json = async (pool: Pool, path: string, method: 'GET' | 'POST' = 'GET', body?: unknown): Promise<any> => { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await pool.request({ path, method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}) })
  return await res.body.json()
}

async function putKeys (pools: Pool[]): Promise<void> {
  let i = 0
  const value = Buffer.alloc(SIZE)
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (i < KEYS) {
      const k = i++
      value.writeUInt32BE(k, 0)
      // A 503 (no write quorum while a loaded peer is slow) is retried a few times.
      for (let tries = 0; ; tries++) {
        const res = await pools[(k + tries) % pools.length].request({ path: `/add_key${keyOf(k)}`, method: 'PUT', body: Buffer.from(value) })
        await res.body.dump()
        if (res.statusCode === 201) break
        if (res.statusCode !== 503 || tries >= 5) throw new Error(`add_key ${keyOf(k)}: ${res.statusCode}`)
      }
    }
  }))
}

/** One batch over the prefix: launch → every task done; the tasks' outputs read afterwards. */
async function runBatch (peers: Peer[], pools: Pool[], holders: Map<string, Set<string>>, seed: string, locality: 'soft' | 'hard', count = KEYS): Promise<Run> {
  const cpu = (): number => peers.reduce((t, p) => t + treeCpuSeconds(p.pid), 0)
  const cpu0 = cpu()
  const t0 = wallMs()
  const launched = await json(pools[0], `/launch_batch/bench/${seed}`, 'POST', count < KEYS ? { keys: Array.from({ length: count }, (_, i) => keyOf(i)), locality } : { prefix: PREFIX, locality })
  if (launched.data?.batch_id === undefined) throw new Error(`launch_batch: ${JSON.stringify(launched)}`)
  const id = launched.data.batch_id as number
  await waitFor(async () => {
    const s = await json(pools[1], `/admin/batches/${id}`)
    if (s.data === null) { console.log(`  batch ${id} at ${fmt((wallMs() - t0) / 1000, 1)} s: ${s.msg as string}`); return false }
    return ['done', 'cancelled'].includes(s.data.state)
  }, 600_000, `batch ${id} to end`, 250)
  const seconds = (wallMs() - t0) / 1000
  const cpuUs = (cpu() - cpu0) / count * 1e6
  const tasks = (await json(pools[1], `/admin/batches/${id}/tasks`)).data as Array<{ key: string, state: string, node: string, output: { t: number, n: number } | null }>
  let localBytes = 0
  let meshBytes = 0
  let first = Infinity
  let notDone = 0
  for (const t of tasks) {
    if (t.state !== 'done' || t.output === null) { notDone++; continue }
    first = Math.min(first, t.output.t)
    // The worker copies the value from its own replica when it holds the key (StoreJobData.open), else fetches it through the store.
    if (holders.get(t.key)?.has(t.node) === true) localBytes += t.output.n
    else meshBytes += t.output.n
  }
  return { name: `batch ${seed.replace('task_', '')} ${locality}`, tasks: tasks.length, seconds, firstMs: first - t0, localBytes, meshBytes, notDone: notDone + count - tasks.length, cpuUs }
}

/** KEYS plain jobs, launched at concurrency SLOTS round-robin over the peers, each fetching its key from a gateway (round-robin too). */
async function runJobs (peers: Peer[], pools: Pool[], holders: Map<string, Set<string>>, seed: string, count = KEYS): Promise<Run> {
  const cpu = (): number => peers.reduce((t, p) => t + treeCpuSeconds(p.pid), 0)
  const cpu0 = cpu()
  const t0 = wallMs()
  const ids: Array<[number, number, string]> = []
  let i = 0
  await Promise.all(Array.from({ length: SLOTS }, async () => {
    while (i < count) {
      const k = i++
      const gw = k % peers.length
      // A launch refused while the coordinator changes hands is sent again (after "did not answer" it may run twice: rare, left in the count).
      for (let tries = 0; ; tries++) {
        const r = await json(pools[(k + 1 + tries) % pools.length], `/launch_job/bench/${seed}`, 'POST', { key: keyOf(k), base: peers[gw].url })
        if (r.data?.job_id !== undefined) { ids.push([r.data.job_id, gw, keyOf(k)]); break }
        if (tries >= 20 || !/not the coordinator|no coordinator elected|did not answer|not committed before|lost to a new coordinator/.test(String(r.msg))) throw new Error(`launch_job: ${JSON.stringify(r)}`)
        await new Promise(resolve => setTimeout(resolve, 100))
      }
    }
  }))
  await allSettled(pools[0], 600_000)
  const seconds = (wallMs() - t0) / 1000
  const cpuUs = (cpu() - cpu0) / count * 1e6
  let localBytes = 0
  let meshBytes = 0
  let first = Infinity
  let notDone = 0
  let k = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (k < ids.length) {
      const [id, gw, key] = ids[k++]
      const job = (await json(pools[0], `/admin/jobs/${id}`)).data as { state: string, output: { t: number, n: number } | null } | null
      if (job === null || job.state !== 'ready' || job.output === null) { notDone++; continue }
      first = Math.min(first, job.output.t)
      // The gateway answers from its own replica when it holds the key; every byte crosses HTTP to the job either way.
      if (holders.get(key)?.has(peers[gw].id) === true) localBytes += job.output.n
      else meshBytes += job.output.n
    }
  }))
  return { name: `one-off jobs ${seed.replace('fetch_', '')} over HTTP`, tasks: ids.length, seconds, firstMs: first - t0, localBytes, meshBytes, notDone, cpuUs }
}

const rate = (r: Run): number => r.tasks / r.seconds
/** Each run's figures as soon as it ended (the table comes at the end). */
function done (r: Run): Run {
  console.log(`  ${r.name}: ${fmt(rate(r))} tasks/s, first task ${fmt(r.firstMs, 1)} ms, local ${fmt(100 * r.localBytes / Math.max(1, r.localBytes + r.meshBytes), 2)}%, ${fmt(r.cpuUs)} us CPU/task, ${r.notDone} not done`)
  return r
}

export async function batchBench (): Promise<void> {
  console.log(`\n== batch: ${KEYS} keys of ${SIZE / 1024} KB on 3 peers (N=2, W=2, ${SLOTS} job slots each; ${WARMUP} warm-up tasks per seed first) ==`)
  let peers: Peer[] = []
  const runs: Run[] = []
  try {
    peers = await startJobPeers(3, SEEDS, { PMZ_REPLICAS: '2', PMZ_WRITE_QUORUM: '2' })
    const pools = peers.map(p => new Pool(p.url, { connections: SLOTS, pipelining: 1 }))
    try {
      const tp = wallMs()
      await putKeys(pools)
      console.log(`stored ${KEYS} keys in ${fmt((wallMs() - tp) / 1000, 1)} s`)
      const onDisk = peers.map(p => new Set(liveKeysOnDisk(p.dataDir)))
      const holders = new Map(Array.from({ length: KEYS }, (_, i) => [keyOf(i), new Set(peers.filter((_, j) => onDisk[j].has(keyOf(i))).map(p => p.id))]))
      for (const seed of ['noop', 'sha']) {
        if (only(`batch-${seed}`)) {
          if (WARMUP > 0) await runBatch(peers, pools, holders, `task_${seed}`, 'soft', WARMUP)
          runs.push(done(await runBatch(peers, pools, holders, `task_${seed}`, 'soft')))
        }
        if (only(`jobs-${seed}`)) {
          if (WARMUP > 0) await runJobs(peers, pools, holders, `fetch_${seed}`, WARMUP)
          runs.push(done(await runJobs(peers, pools, holders, `fetch_${seed}`)))
        }
      }
      if (only('batch-hard')) runs.push(done(await runBatch(peers, pools, holders, 'task_sha', 'hard')))
    } finally {
      await Promise.all(pools.map(async p => await p.close()))
    }
  } finally {
    // PMZ_BENCH_LOGS=1: each peer's warnings and coordinator changes, to see why a run stalled.
    if (process.env.PMZ_BENCH_LOGS !== undefined) {
      for (const p of peers) console.log(`--- ${p.id}\n${p.lines.filter(l => /"level":(40|50)|leader|elect/.test(l)).slice(-40).join('\n')}`)
    }
    await stopForProfile(peers)
    await cleanupPeers()
  }
  const ref = (r: Run): Run | undefined => runs.find(b => b.name.startsWith('one-off') && b.name.includes(r.name.includes('sha') ? 'sha' : 'noop'))
  console.table(runs.map(r => ({
    run: r.name,
    'tasks/s': fmt(rate(r)),
    'x one-off jobs': ref(r) === undefined ? '' : fmt(rate(r) / rate(ref(r) as Run), 2),
    'first task ms': fmt(r.firstMs, 1),
    'MB local': fmt(r.localBytes / 1e6, 1),
    'MB mesh': fmt(r.meshBytes / 1e6, 1),
    'local %': fmt(100 * r.localBytes / Math.max(1, r.localBytes + r.meshBytes), 2),
    'CPU us/task': fmt(r.cpuUs),
    'not done': r.notDone
  })))
  console.log('batch: launch → batch done (its summary polled every 250 ms); first task: launch sent → the first task\'s function started. local: the task ran on a peer holding its key (the worker copies its own replica); mesh: the worker fetched it through the store.')
  console.log(`one-off jobs: ${KEYS} launch_job at concurrency ${SLOTS}, each GETs its key from a gateway (round-robin); local: the gateway held the key (the bytes still cross HTTP). This machine has ${availableParallelism()} cores for everything, the load generator included.`)
  console.log('targets: >= 99% of task bytes local with soft locality; >= 2x the one-off jobs\' tasks/s')
}
