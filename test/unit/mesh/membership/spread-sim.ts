// The membership simulation behind simulation.test.ts and test/bench/mesh-sim.ts:
// n peers on a lossy, jittery MemoryNetwork boot and converge; then one peer
// joins and one peer publishes new meta, and we time how long each takes to
// reach 99.9 % of the others, counting any live peer declared dead meanwhile.
import type { MembershipInit } from '../../../../src/mesh/membership/index.js'
import { SimCluster, type SeenEvent } from './cluster.js'

export interface SpreadSimInit {
  peers: number
  seed?: number
  /** @default 0.01 */
  lossRate?: number
  /** @default [1, 5] */
  latencyMs?: [number, number]
  /** Simulated time after the measurements during which false positives are still counted, ms. @default 10_000 */
  observeMs?: number
  /** Simulated time left for the boot's updates to drain before each measurement, ms. @default 5_000 */
  settleMs?: number
  /** Joins (and meta updates) measured one after the other. @default 1 */
  trials?: number
  init?: MembershipInit
}

/** The median of a list of numbers. */
export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export interface SpreadSimResult {
  peers: number
  /** Simulated ms from the first join until every peer saw every other alive. */
  bootMs: number
  /** Simulated ms from a new peer's join() until 99.9 % of the others hold it alive, and until all do; one per trial. */
  join999Ms: number[]
  joinAllMs: number[]
  /** Simulated ms from updateMeta() until 99.9 % of the others saw the new incarnation, and until all did; one per trial. */
  update999Ms: number[]
  updateAllMs: number[]
  /** Live peers declared dead by anyone over the whole run. */
  falseDeaths: number
  /** Messages delivered and dropped by the network. */
  delivered: number
  dropped: number
  wallMs: number
}

/** Milliseconds of simulated time between convergence checks. */
const STEP_MS = 10

export async function runSpreadSim (o: SpreadSimInit): Promise<SpreadSimResult> {
  const wall = performance.now()
  const n = o.peers
  const c = new SimCluster({ seed: o.seed ?? 1, lossRate: o.lossRate ?? 0.01, latencyMs: o.latencyMs ?? [1, 5], init: o.init, recordEvents: false })
  const ids = Array.from({ length: n }, (_, i) => `p${i}`)
  for (const id of ids) await c.add(id)
  // Everyone starts at once and is proposed the first peer's address (a static join list), one every 2 ms.
  const t0 = c.clock.now()
  for (const id of ids.slice(1)) {
    c.propose(id, [c.get(ids[0]).address])
    await c.run(2)
  }
  await c.until(() => c.converged(n), 300_000, 100)
  const bootMs = c.clock.now() - t0
  // Let the backlog of the boot's updates drain, so that the measurements see a cluster at rest.
  await c.run(o.settleMs ?? 5_000)
  const r = { join999Ms: [] as number[], joinAllMs: [] as number[], update999Ms: [] as number[], updateAllMs: [] as number[] }
  for (let trial = 0; trial < (o.trials ?? 1); trial++) {
    // A new peer joins through some member; everyone else learns it by gossip (plus probes' piggybacking).
    const joiner = `joiner${trial}`
    const others = n + trial
    const need = Math.ceil(0.999 * others)
    await c.add(joiner)
    c.propose(joiner, [c.get(ids[(trial * 7919 + Math.floor(n / 2)) % n]).address])
    const t999 = await c.until(() => c.holding(joiner) >= need, 60_000, STEP_MS)
    r.join999Ms.push(t999)
    r.joinAllMs.push(t999 + await c.until(() => c.holding(joiner) >= others, 60_000, STEP_MS))
    await c.run(o.settleMs ?? 5_000)

    // An alive update with new meta, as a peer publishes its disk use.
    const author = c.get(ids[1 + trial % (n - 1)])
    const target = author.membership.self().incarnation + 1
    const seen = new Set<string>()
    const watch = (e: SeenEvent): void => {
      if ((e.type === 'update' || e.type === 'alive') && e.peerId === author.id && e.incarnation >= target) seen.add(e.observer)
    }
    c.watchers.add(watch)
    author.membership.updateMeta({ diskPercent: 40 + trial })
    const u999 = await c.until(() => seen.size >= need, 60_000, STEP_MS)
    r.update999Ms.push(u999)
    r.updateAllMs.push(u999 + await c.until(() => seen.size >= others, 60_000, STEP_MS))
    c.watchers.delete(watch)
    await c.run(o.settleMs ?? 5_000)
  }

  await c.run(o.observeMs ?? 10_000)
  const result: SpreadSimResult = {
    peers: n,
    bootMs,
    ...r,
    falseDeaths: c.falseDeaths,
    delivered: c.network.counters.delivered,
    dropped: c.network.counters.dropped,
    wallMs: performance.now() - wall
  }
  await c.stopAll()
  return result
}
