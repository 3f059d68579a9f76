import { median, runSpreadSim, type SpreadSimResult } from '../unit/mesh/membership/spread-sim.js'
import { fmt } from './lib.js'

/**
 * Serf's convergence model (serf.io, "Gossip Protocol" / convergence
 * simulator): seconds for an update to reach 99.9 % of the cluster at a
 * 200 ms gossip interval, fanout 3, 1 % packet loss.
 */
const SERF_MODEL_S: Record<number, number> = { 100: 1.54, 1000: 1.84 }

/**
 * Membership dissemination in simulation: n SWIM peers on a MemoryNetwork
 * (1 % loss, 1-5 ms latency, ManualClock) with pmz's defaults (gossip every
 * 200 ms to 3 members, piggybacking on probes), timing how long a join and a
 * meta update take to reach 99.9 % of the peers, beside Serf's model.
 */
export async function meshSimBench (): Promise<void> {
  console.log('\n== mesh membership: spread of a join / an alive update to 99.9 % of peers (simulated, 1% loss) ==')
  const rows: Array<Record<string, string>> = []
  for (const peers of [100, 1000]) {
    // A 1,000-peer boot costs ~n^2 x retransmit-limit update receptions; shorter settles keep the run near a minute.
    const r: SpreadSimResult = await runSpreadSim({ peers, seed: 42, lossRate: 0.01, latencyMs: [1, 5], trials: 3, settleMs: 2_000, observeMs: 5_000 })
    const serf = SERF_MODEL_S[peers]
    const join = median(r.join999Ms) / 1000
    const update = median(r.update999Ms) / 1000
    rows.push({
      peers: String(peers),
      'join 99.9% s (3 runs)': `${fmt(join, 2)} (${r.join999Ms.map(ms => fmt(ms / 1000, 2)).join('/')})`,
      'update 99.9% s': `${fmt(update, 2)} (${r.update999Ms.map(ms => fmt(ms / 1000, 2)).join('/')})`,
      'Serf model s': fmt(serf, 2),
      'join/Serf': fmt(join / serf, 2),
      'update/Serf': fmt(update / serf, 2),
      'boot converged s': fmt(r.bootMs / 1000, 1),
      'false deaths': String(r.falseDeaths),
      messages: `${r.delivered} (${r.dropped} lost)`,
      'wall s': fmt(r.wallMs / 1000, 1)
    })
  }
  console.table(rows)
  console.log('pmz: probes every 200 ms carry up to 16 updates each way besides the gossip rounds, so spread beats the gossip-only model.')
  console.log('target: ratio <= 1 (no slower than Serf at the same interval and fanout); false deaths 0')
}
