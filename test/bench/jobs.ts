import { availableParallelism } from 'node:os'
import { Pool } from 'undici'
import { waitFor } from '../helpers/http.js'
import { cleanupPeers, type Peer } from '../helpers/peer.js'
import { runBullmq } from './jobs-bullmq.js'
import { NOOP, SLOTS, startJobPeers, stopForProfile } from './jobs-peers.js'
import { rerunBench } from './jobs-rerun.js'
import { cpuSeconds, fmt, quantile, treeCpuSeconds, wallMs } from './lib.js'

const JOBS = Number(process.env.PMZ_BENCH_JOBS ?? 2000)
// As many warm-up jobs as measured ones: every peer then has its pool of job children forked (one per slot in use).
const WARMUP = Number(process.env.PMZ_BENCH_WARMUP ?? JOBS)
const C = SLOTS
const ONLY = process.env.PMZ_BENCH_ONLY?.split(',')
/** Jobs launched one at a time for the unloaded launch → start. */
export const IDLE_JOBS = 200
/** Pulzar (§8): a node runs its queued jobs every 2 minutes, so a job starts 0–120 s after its launch. */
const PULZAR_START_S = '0–120'

/** What one system did with `jobs` no-op jobs at concurrency C. */
export interface JobsRun {
  jobs: number
  /** First launch sent → every job ready (pmz: seen by polling the job list every ~10 ms), s. */
  seconds: number
  /** Per job: launch request sent → the job's function started (the seed's own clock reading), ms. */
  startLatency: number[]
  /** The same, IDLE_JOBS jobs launched one at a time after the rest (nothing queued). */
  idleStartLatency: number[]
  /** Per job: launch request sent → launch answered (pmz: 200 with the job id; BullMQ: add() resolved), ms. */
  ackLatency: number[]
  /** CPU time of the system's processes per job, µs. */
  cpuUs: number
  /** pmz: the CPU time of the peer processes alone (their job children left out), µs per job. */
  mainUs?: number
  /** Jobs that did not end ready. */
  notReady: number
}

/** Launches `count` no-op jobs at concurrency C, spread round-robin over the peers' HTTP; the send time and answer latency of each, by job id. */
export async function launchAll (pools: Pool[], count: number, concurrency = C): Promise<{ sent: Map<number, number>, acks: number[], failed: number }> {
  const sent = new Map<number, number>()
  const acks: number[] = []
  let failed = 0
  let i = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (i < count) {
      const pool = pools[i++ % pools.length]
      const t = wallMs()
      const res = await pool.request({ path: '/launch_job/bench/noop', method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
      const body = await res.body.json() as { data?: { job_id?: number } }
      if (res.statusCode !== 200 || body.data?.job_id === undefined) { failed++; continue }
      sent.set(body.data.job_id, t)
      acks.push(wallMs() - t)
    }
  }))
  return { sent, acks, failed }
}

/**
 * Resolves when no job of the cluster is pending (queued or running): the
 * newest C first, then the whole list once, then only the stragglers it
 * named (the whole list costs the peer a line per job of its history).
 */
export async function allSettled (pool: Pool, deadlineMs: number): Promise<void> {
  const get = async (path: string): Promise<any> => await (await pool.request({ path, method: 'GET' })).body.json() // eslint-disable-line @typescript-eslint/no-explicit-any
  // An answer without data (the coordinator changing hands under load) is asked again.
  await waitFor(async () => (await get(`/admin/jobs?limit=${C}`)).data?.pendings?.length === 0, deadlineMs, 'the newest jobs to end', 10)
  let list: any // eslint-disable-line @typescript-eslint/no-explicit-any
  await waitFor(async () => (list = (await get('/admin/jobs')).data) !== null, deadlineMs, 'the list of jobs', 100)
  let pending = (list.pendings as Array<{ job_id: number }>).map(j => j.job_id)
  await waitFor(async () => {
    const states = await Promise.all(pending.map(async id => (await get(`/admin/jobs/${id}?filter=state`)).data?.status as string | undefined ?? 'pending'))
    pending = pending.filter((_, i) => states[i] === 'pending')
    return pending.length === 0
  }, deadlineMs, 'every job to end', 10)
}

/** Each job's launch → start, from its output (read after the timed part); the jobs that did not end ready. */
async function startTimes (pool: Pool, sent: Map<number, number>, failed: number): Promise<{ latencies: number[], notReady: number }> {
  const latencies: number[] = []
  let notReady = failed
  const ids = [...sent.keys()]
  let k = 0
  await Promise.all(Array.from({ length: C }, async () => {
    while (k < ids.length) {
      const id = ids[k++]
      const res = await pool.request({ path: `/admin/jobs/${id}`, method: 'GET' })
      const job = (await res.body.json() as { data: { state: string, output: { t?: number } | null } }).data
      if (job.state !== 'ready' || typeof job.output?.t !== 'number') notReady++
      else latencies.push(job.output.t - (sent.get(id) as number))
    }
  }))
  return { latencies, notReady }
}

/** The bench on `n` peers: warm-up, then JOBS launched and awaited; then each job's detail (not timed) for its start time. */
async function runPmz (n: number, env: Record<string, string> = {}): Promise<JobsRun> {
  let peers: Peer[] = []
  try {
    peers = await startJobPeers(n, { noop: NOOP }, env)
    const pools = peers.map(p => new Pool(p.url, { connections: C, pipelining: 1 }))
    try {
      await launchAll(pools, WARMUP)
      await allSettled(pools[0], 120_000)
      const cpu = (): number => peers.reduce((t, p) => t + treeCpuSeconds(p.pid), 0)
      const mainCpu = (): number => peers.reduce((t, p) => t + cpuSeconds(p.pid), 0)
      const cpu0 = cpu()
      const main0 = mainCpu()
      const t0 = wallMs()
      const { sent, acks, failed } = await launchAll(pools, JOBS)
      await allSettled(pools[0], 300_000)
      const seconds = (wallMs() - t0) / 1000
      const cpuUs = (cpu() - cpu0) / JOBS * 1e6
      const mainUs = (mainCpu() - main0) / JOBS * 1e6
      const { latencies: startLatency, notReady } = await startTimes(pools[0], sent, failed)
      // Unloaded: one launch at a time, so that no job waits behind others: the latency of the pipeline itself.
      const one = await launchAll(pools, IDLE_JOBS, 1)
      await allSettled(pools[0], 60_000)
      const idle = await startTimes(pools[0], one.sent, one.failed)
      return { jobs: JOBS, seconds, startLatency, ackLatency: acks, cpuUs, mainUs, notReady: notReady + idle.notReady, idleStartLatency: idle.latencies }
    } finally {
      await Promise.all(pools.map(async p => await p.close()))
    }
  } finally {
    await stopForProfile(peers)
    await cleanupPeers()
  }
}

/**
 * Issue 14's benchmark: no-op jobs launched over HTTP at concurrency 64 on
 * one peer and on three, beside BullMQ on a local redis-server (default
 * persistence, then appendfsync always), the same count and concurrency;
 * then a killed worker's job running again elsewhere.
 */
export async function jobsBench (): Promise<void> {
  console.log(`\n== jobs: ${JOBS} no-op jobs, concurrency ${C} (after ${WARMUP} warm-up jobs); pmz over HTTP vs BullMQ on redis-server ==`)
  const runs: Array<[string, JobsRun]> = []
  // PMZ_BENCH_ONLY=bull,pmz1,pmz3,pmz1os,pmz3os,rerun picks parts (for profiling); the default runs all.
  const only = (part: string): boolean => ONLY === undefined || ONLY.includes(part)
  if (only('bull')) {
    for (const p of ['default', 'always'] as const) {
      runs.push([`BullMQ redis ${p === 'default' ? 'default' : 'appendfsync always'}`, await runBullmq(p, { jobs: JOBS, warmup: WARMUP, idleJobs: IDLE_JOBS, concurrency: C })])
    }
  }
  for (const n of [1, 3]) if (only(`pmz${n}`)) runs.push([`pmz ${n} peer${n > 1 ? 's' : ''}`, await runPmz(n)])
  if (only('pmz1os')) runs.push(['pmz 1 peer sync=os', await runPmz(1, { PMZ_STORE_SYNC: 'os' })])
  if (only('pmz3os')) runs.push(['pmz 3 peers sync=os', await runPmz(3, { PMZ_STORE_SYNC: 'os' })])
  const ref = runs.find(([name]) => name === 'BullMQ redis default')?.[1] ?? runs[0]?.[1]
  const rate = (r: JobsRun): number => r.jobs / r.seconds
  if (ref !== undefined) console.table(runs.map(([name, r]) => ({
    system: name,
    'jobs/s launch→ready': fmt(rate(r)),
    'x BullMQ default': fmt(rate(r) / rate(ref), 2),
    'launch→start p50/p99 ms': `${fmt(quantile(r.startLatency, 0.5), 2)}/${fmt(quantile(r.startLatency, 0.99), 2)}`,
    'c=1 launch→start p50/p99 ms': `${fmt(quantile(r.idleStartLatency, 0.5), 2)}/${fmt(quantile(r.idleStartLatency, 0.99), 2)}`,
    'launch ack p50/p99 ms': `${fmt(quantile(r.ackLatency, 0.5), 2)}/${fmt(quantile(r.ackLatency, 0.99), 2)}`,
    'CPU us/job': fmt(r.cpuUs),
    'of which peers': r.mainUs === undefined ? '' : fmt(r.mainUs),
    'not ready': r.notReady
  })))
  console.log('pmz: every commit of the coordinator log fsynced (like appendfsync always); sync=os: left to the OS (like redis default, which never fsyncs a job).')
  console.log('launch→start: the client sending the launch → the job\'s function starting (its own clock reading, same machine); at c=64 it is mostly the wait in the queue (launches come faster than jobs run), c=1: ' + `${IDLE_JOBS} jobs launched one at a time afterwards, nothing queued. launch→ready: first launch sent → every job ended ready.`)
  console.log(`CPU us/job: pmz: every peer process and its job children; BullMQ: redis-server and the Worker process. This machine has ${availableParallelism()} cores for everything, the load generator included.`)
  if (!only('rerun')) return
  const rerun = await rerunBench()
  console.table([{ 'pmz: kill -9 of the worker → next attempt started on another peer, ms': rerun.restartMs, 'kill → survivors say dead, ms': rerun.deadMs, 'Pulzar: launch → start, s (§8)': PULZAR_START_S }])
  console.log('targets: throughput >= 1.0x BullMQ default redis; launch→start p50 <= 5 ms; re-run elsewhere <= 5 s after the kill')
}
