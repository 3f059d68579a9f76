import { afterAll, describe, expect, it } from 'vitest'
import { runChaos } from '../helpers/chaos.js'
import { cleanupPeers } from '../helpers/peer.js'

describe('consistency under faults (the checker of pmz check, with kill -9 and partitions)', () => {
  afterAll(async () => { await cleanupPeers() })

  it('3 peers, N=3, W=2, ~12 s of same-key add_key races, reads, deletes and re-creates under kill -9 and partitions: no violation', async () => {
    const s = await runChaos({ peers: 3, durationMs: 12_000, writers: 4, contenders: 3, partitions: true, upMs: [2_000, 4_000], downMs: [1_000, 3_000], settleMs: 30_000 })
    expect(s.kills + s.partitions).toBeGreaterThanOrEqual(2)
    expect(s.creates.ok).toBeGreaterThan(50)
    expect(s.creates.exists).toBeGreaterThan(50)
    expect(s.deletes.ok).toBeGreaterThan(10)
    expect(s.violations).toEqual([])
  }, 180_000)
})
