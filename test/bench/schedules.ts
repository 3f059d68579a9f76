// Issue 15's benchmark: many `every: 1 second` schedules on 3 peers; what
// fires, how late, what it costs the coordinator; then the failover gap.
import { availableParallelism } from 'node:os'
import { Pool } from 'undici'
import { cleanupPeers, type Peer } from '../helpers/peer.js'
import { allSettled, launchAll } from './jobs.js'
import { SLOTS, startJobPeers, stopForProfile } from './jobs-peers.js'
import { cpuSeconds, fmt, memory, quantile, treeCpuSeconds, wallMs } from './lib.js'
import { Evidence, SCHEDULED, SEEDS, createSchedules, firingsIn, leaderPeer } from './schedules-lib.js'
import { failoverBench } from './schedules-failover.js'

/** Schedule counts of the steady runs (PMZ_BENCH_SCHEDULES=1000,3000,10000). */
const COUNTS = (process.env.PMZ_BENCH_SCHEDULES ?? '1000,3000,10000').split(',').map(Number)
/** Length of the measured window, s. */
const SECONDS = Number(process.env.PMZ_BENCH_SECONDS ?? 60)
/** Between the last schedule created and the window, s: every schedule has fired a few times. */
const WARMUP_S = 5
/** After the window, how long the ticks of the window may take to run before they count as not run, s. */
const SETTLE_S = 5
const ONLY = process.env.PMZ_BENCH_ONLY?.split(',')
/** One-off no-op jobs of the reference run. */
const REFERENCE_JOBS = 5000

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

interface SteadyRow {
  schedules: number
  createdPerS: number
  firingsPerS: number
  expectedPerS: number
  delays: number[]
  notRun: number
  duplicates: number
  leaderUs: number
  clusterUs: number
  leaderRssMb: number
}

/** `count` schedules on 3 fresh peers: created, warmed up, then SECONDS measured. */
async function steady (count: number): Promise<SteadyRow> {
  let peers: Peer[] = []
  try {
    peers = await startJobPeers(3, SEEDS)
    const pools = peers.map(p => new Pool(p.url, { connections: SLOTS, pipelining: 1 }))
    const evidence = new Evidence()
    try {
      const c0 = wallMs()
      await createSchedules(pools, count, evidence.path)
      const createdPerS = count / ((wallMs() - c0) / 1000)
      await sleep(WARMUP_S * 1000)
      const leader = await leaderPeer(peers)
      const clusterCpu = (): number => peers.reduce((t, p) => t + treeCpuSeconds(p.pid), 0)
      const lead0 = cpuSeconds(leader.pid)
      const all0 = clusterCpu()
      const t0 = Math.ceil(wallMs())
      await sleep(SECONDS * 1000)
      const t1 = Math.ceil(wallMs())
      const leadCpu = cpuSeconds(leader.pid) - lead0
      const allCpu = clusterCpu() - all0
      const leaderRssMb = memory(leader.pid).rss
      await sleep(SETTLE_S * 1000)
      const f = firingsIn(evidence.read(), t0, t1)
      const expected = count * SECONDS
      return {
        schedules: count,
        createdPerS,
        firingsPerS: f.firings / SECONDS,
        expectedPerS: count,
        delays: f.delays,
        notRun: expected - f.firings,
        duplicates: f.duplicates,
        leaderUs: leadCpu / f.firings * 1e6,
        clusterUs: allCpu / f.firings * 1e6,
        leaderRssMb
      }
    } finally {
      await Promise.all(pools.map(async p => await p.close()))
    }
  } finally {
    await stopForProfile(peers)
    await cleanupPeers()
  }
}

/** The reference: REFERENCE_JOBS one-off no-op jobs launched at concurrency SLOTS on 3 fresh peers, jobs/s launch → all ready. */
async function reference (): Promise<number> {
  let peers: Peer[] = []
  try {
    peers = await startJobPeers(3, SEEDS)
    const pools = peers.map(p => new Pool(p.url, { connections: SLOTS, pipelining: 1 }))
    try {
      await launchAll(pools, REFERENCE_JOBS)
      await allSettled(pools[0], 120_000)
      const t0 = wallMs()
      await launchAll(pools, REFERENCE_JOBS)
      await allSettled(pools[0], 300_000)
      return REFERENCE_JOBS / ((wallMs() - t0) / 1000)
    } finally {
      await Promise.all(pools.map(async p => await p.close()))
    }
  } finally {
    await cleanupPeers()
  }
}

export async function schedulesBench (): Promise<void> {
  const only = (part: string): boolean => ONLY === undefined || ONLY.includes(part)
  console.log(`\n== schedules: every 1 second (${JSON.stringify(SCHEDULED)}) on 3 peers (${SLOTS} job slots each), ${SECONDS} s measured after ${WARMUP_S} s ==`)
  const refRate = only('reference') ? await reference() : undefined
  const rows: SteadyRow[] = []
  if (only('steady')) {
    for (const n of COUNTS) {
      try {
        rows.push(await steady(n))
        printRows(rows.slice(-1), refRate) // as it comes: a later run may not finish
      } catch (err) {
        console.log(`${n} schedules: the run failed: ${(err as Error).message}`) // e.g. the cluster too overloaded to record them
      }
    }
  }
  printRows(rows, refRate)
  if (refRate !== undefined) console.log(`reference: ${REFERENCE_JOBS} one-off no-op jobs launched over HTTP at concurrency ${SLOTS} on 3 fresh peers: ${fmt(refRate)} jobs/s (launch → all ready).`)
  console.log(`tick→start: the tick's time → the seed's function started (its own clock, same machine), first run of each firing of a tick in the window; not run: due ticks of the window with no run ${SETTLE_S} s after it. ` +
    `leader CPU: the coordinator leader's own process (its job children left out); cluster: every peer and its children. This machine has ${availableParallelism()} cores for everything.`)
  if (only('failover')) await failoverBench()
  console.log('targets: tick→start p99 <= 50 ms; failover gap <= 2 s, 0 duplicate and 0 lost ticks')
}

function printRows (rows: SteadyRow[], refRate: number | undefined): void {
  if (rows.length === 0) return
  console.table(rows.map(r => ({
    schedules: r.schedules,
    'created/s': fmt(r.createdPerS),
    'firings/s (due)': `${fmt(r.firingsPerS)} (${r.expectedPerS})`,
    'x one-off jobs/s': refRate === undefined ? '' : fmt(r.firingsPerS / refRate, 2),
    'tick→start p50/p99 ms': `${fmt(quantile(r.delays, 0.5), 1)}/${fmt(quantile(r.delays, 0.99), 1)}`,
    'not run': r.notRun,
    duplicates: r.duplicates,
    'leader CPU us/firing': fmt(r.leaderUs),
    'cluster CPU us/firing': fmt(r.clusterUs),
    'leader RSS MB': fmt(r.leaderRssMb)
  })))
}
