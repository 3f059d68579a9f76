import { createHash } from 'node:crypto'
import { createRing, diffRings, keyHash, type Ring } from '../../src/ring/index.js'
import { fmt } from './lib.js'

const REPLICAS = 3
const LOOKUP_KEYS = Array.from({ length: 100_000 }, (_, i) => `bucket/${i % 1000}/object-${i}.bin`)
const LOAD_KEYS = LOOKUP_KEYS.slice(0, 10_000)
const PASSES = 3

/** Best of PASSES runs of `fn` over every lookup key, in keys per second. */
function keysPerSecond (fn: (key: string) => unknown): number {
  let best = 0
  for (let pass = 0; pass < PASSES; pass++) {
    const t0 = performance.now()
    for (const key of LOOKUP_KEYS) fn(key)
    best = Math.max(best, LOOKUP_KEYS.length / ((performance.now() - t0) / 1000))
  }
  return best
}

/** Busiest peer over the mean, counting owners only and every copy of a preference list of `n`. */
function loadRatio (ring: Ring, n: number): number {
  const counts = new Map<string, number>(ring.peers().map(p => [p.peerId, 0]))
  for (const key of LOAD_KEYS) for (const p of ring.preferenceList(key, n)) counts.set(p, (counts.get(p) as number) + 1)
  const values = [...counts.values()]
  return Math.max(...values) / (values.reduce((s, v) => s + v, 0) / values.length)
}

/** The same figure for a perfect hash (keyHash mod peers): what 10,000 keys give from sampling alone. */
function modLoadRatio (peers: number): number {
  const counts = new Array<number>(peers).fill(0)
  for (const key of LOAD_KEYS) counts[keyHash(key) % peers]++
  return Math.max(...counts) / (LOAD_KEYS.length / peers)
}

/**
 * Ring placement: preferenceList(key, 3) throughput beside a sha1 of the key
 * alone (the floor of any hash placement) in the same run, the load of the
 * busiest peer over the mean for 10,000 keys, and the share of keys whose
 * owner changes when one more peer joins (ideal: 1 / (peers + 1)). The
 * load figure is set beside `hash mod peers`, which is perfectly even but for
 * sampling noise (and would move almost every key on a join).
 */
export async function ringBench (): Promise<void> {
  console.log('\n== ring: preference lists of 3 (hashring, 160 vnodes per peer) ==')
  const sha1 = keysPerSecond(key => createHash('sha1').update(key).digest())
  const rows: Array<Record<string, string>> = []
  for (const peers of [10, 100]) {
    const list = Array.from({ length: peers }, (_, i) => ({ peerId: `vol-${i}` }))
    const t0 = performance.now()
    const ring = createRing({ peers: list })
    const buildMs = performance.now() - t0
    const lookups = keysPerSecond(key => ring.preferenceList(key, REPLICAS))
    const joined = ring.withPeers([...list, { peerId: 'newcomer' }])
    let ownerMoves = 0
    for (const m of diffRings(ring, joined, LOAD_KEYS, REPLICAS)) if (m.ownerChanged) ownerMoves++
    rows.push({
      peers: String(peers),
      'sha1 keys/s (ref)': fmt(sha1),
      'lookups/s': fmt(lookups),
      'lookups/ref': fmt(lookups / sha1, 2),
      'build ms': fmt(buildMs, 1),
      'max/mean owners': fmt(loadRatio(ring, 1), 3),
      'max/mean owners (mod ref)': fmt(modLoadRatio(peers), 3),
      'max/mean copies': fmt(loadRatio(ring, REPLICAS), 3),
      'owners moved on join %': `${fmt(100 * ownerMoves / LOAD_KEYS.length, 1)} (ideal ${fmt(100 / (peers + 1), 1)})`
    })
  }
  console.table(rows)
  console.log('target: lookups/ref >= 0.5 (one md5 plus a binary search vs one sha1); max/mean owners <= 1.25 over 10,000 keys, near the mod reference')
}
