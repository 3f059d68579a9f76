// The failover part of the schedules bench: the coordinator leader kill -9'd
// KILLS times (and restarted on its data dir each time) while the schedules
// fire; the gap each kill leaves, and over the whole run, duplicates and
// lost ticks.
import { Pool } from 'undici'
import { waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, type Peer } from '../helpers/peer.js'
import { leaderOf } from '../helpers/schedules.js'
import { SLOTS, startJobPeers } from './jobs-peers.js'
import { fmt, quantile, wallMs } from './lib.js'
import { Evidence, SCHEDULED, SEEDS, createSchedules, firingsIn, leaderPeer, lostTicks, type Run } from './schedules-lib.js'

const KILLS = Number(process.env.PMZ_BENCH_KILLS ?? 10)
/** Schedules firing during the kills. */
const SCHEDULES = Number(process.env.PMZ_BENCH_FAILOVER_SCHEDULES ?? 1000)
/** Steady firing before the first kill and after each recovery, s. */
const CALM_S = 3

interface Kill { electedMs: number, gapMs: number, lastBefore: number, firstAfter: number }

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** Without `--join`: the flags a restarted peer keeps (it joins through a survivor). */
function ownFlags (peer: Peer): string[] {
  const args = [...(peer.options.args ?? [])]
  const i = args.indexOf('--join')
  if (i >= 0) args.splice(i, 2)
  return args
}

export async function failoverBench (): Promise<void> {
  let peers: Peer[] = []
  const kills: Kill[] = []
  const evidence = new Evidence()
  try {
    peers = await startJobPeers(3, SEEDS)
    const pools = peers.map(p => new Pool(p.url, { connections: SLOTS, pipelining: 1 }))
    await createSchedules(pools, SCHEDULES, evidence.path)
    await Promise.all(pools.map(async p => await p.close()))
    await sleep(CALM_S * 1000)
    const from = wallMs()
    for (let k = 0; k < KILLS; k++) {
      const victim = await leaderPeer(peers)
      // Kill at a different phase of the second each time (the schedules' ticks are spread over it anyway).
      await sleep(97 * k % 1000)
      const killedAt = wallMs()
      await killPeer(victim)
      peers = peers.filter(p => p !== victim)
      await waitFor(async () => ![undefined, victim.id].includes(await leaderOf(peers)), 20_000, 'a new coordinator', 10)
      const electedMs = wallMs() - killedAt
      peers.push(await restartPeer(victim, { args: [...ownFlags(victim), '--join', peers[0].mesh] }))
      // Wait for CALM_S s of ticks after the kill to have run, and all three to follow one leader.
      await waitFor(() => evidence.read().some(r => r.tick > killedAt + CALM_S * 1000), 60_000, `firings after kill ${k + 1}`, 100)
      await waitFor(async () => await leaderOf(peers) !== undefined, 20_000, 'the restarted peer to follow the leader')
      const runs = evidence.read()
      let lastBefore = -Infinity
      let firstAfter = Infinity
      for (const r of runs) {
        if (r.at < killedAt && r.at > lastBefore) lastBefore = r.at
        if (r.tick > killedAt && r.at < firstAfter) firstAfter = r.at
      }
      kills.push({ electedMs, gapMs: firstAfter - lastBefore, lastBefore, firstAfter })
    }
    const to = wallMs() - CALM_S * 1000 // ticks up to here have had CALM_S s to run
    await sleep(CALM_S * 1000)
    const runs: Run[] = evidence.read()
    const f = firingsIn(runs, from, to)
    const lost = lostTicks(runs, from, to)
    const gaps = kills.map(k => k.gapMs)
    const elected = kills.map(k => k.electedMs)
    console.log(`\n-- failover: ${SCHEDULES} schedules (${JSON.stringify(SCHEDULED)}), the coordinator leader kill -9'd ${KILLS} times and restarted --`)
    console.table([{
      kills: KILLS,
      'gap p50/max ms': `${fmt(quantile(gaps, 0.5))}/${fmt(Math.max(...gaps))}`,
      'kill → new leader p50/max ms': `${fmt(quantile(elected, 0.5))}/${fmt(Math.max(...elected))}`,
      firings: f.firings,
      'duplicate ticks': f.duplicates,
      'lost ticks': lost,
      'jobs re-run after a lost attempt': f.reruns,
      'tick→start p99 ms': fmt(quantile(f.delays, 0.99))
    }])
    console.log(`gaps ms: ${gaps.map(g => fmt(g)).join(', ')}. gap: the last run started before the kill → the first run of a tick after it (only a new leader fires one). ` +
      'lost: per schedule, ticks between its first and last fired tick that never ran; duplicate: a tick fired as a second job.')
  } finally {
    await cleanupPeers()
  }
}
