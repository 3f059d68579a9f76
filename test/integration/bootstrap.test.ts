import { randomUUID } from 'node:crypto'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, freePort, killPeer, startPeer, type Peer } from '../helpers/peer.js'

// Issue 13 item 2: peers started at the same instant must bootstrap exactly
// one coordinator cluster, and nothing committed right after the start may be
// lost when the peers converge.

interface Status { leader?: { peerId: string }, voters: Record<string, string> }

const BOOTSTRAPPED = 'bootstrapped a new coordinator cluster'

async function status (peer: Peer): Promise<Status | undefined> {
  const res = await http('GET', `${peer.url}/admin/coordinator`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as Status : undefined
}

/**
 * One round: `n` peers spawned at the same instant, the first on a known
 * mesh port, the others with `--join` to it. Each peer commits a setting as
 * soon as its gateway answers (through whatever leader it has then); the
 * round ends once all agree on one leader of `n` voters, and returns the
 * bootstrap lines logged and the settings that survived.
 */
async function round (n: number, tag: string): Promise<{ bootstraps: number, committed: string[], kept: Record<string, unknown>, ms: string }> {
  const t0 = Date.now()
  const cluster = `boot-${randomUUID().slice(0, 8)}`
  const seed = `127.0.0.1:${await freePort()}`
  const peers = await Promise.all(Array.from({ length: n }, async (_, i) => await startPeer({
    cluster,
    args: i === 0 ? ['--mesh-port', seed.split(':')[1]] : ['--join', seed]
  })))
  const ready = Date.now() - t0
  try {
    const committed: string[] = []
    await Promise.all(peers.map(async (p, i) => {
      const key = `${tag}-p${i}`
      await waitFor(async () => {
        const res = await http('PUT', `${p.url}/admin/config/${key}`, JSON.stringify(i)).catch(() => undefined)
        return res?.status === 200
      }, 20_000, `${key} to be committed`, 25)
      committed.push(key)
    }))
    const written = Date.now() - t0
    let leader: Peer | undefined
    await waitFor(async () => {
      const all = await Promise.all(peers.map(status))
      const ids = new Set(all.map(s => s?.leader?.peerId))
      if (ids.size !== 1 || all.some(s => s === undefined || Object.keys(s.voters).length !== n)) return false
      leader = peers.find(p => p.id === [...ids][0])
      return leader !== undefined
    }, 30_000, `${n} peers to agree on one leader of ${n} voters`, 50)
    const res = await http('GET', `${(leader as Peer).url}/admin/config`)
    const bootstraps = peers.flatMap(p => p.lines).filter(l => l.includes(BOOTSTRAPPED)).length
    return { bootstraps, committed, kept: res.json?.data as Record<string, unknown>, ms: `${ready}/${written}/${Date.now() - t0}` }
  } finally {
    await Promise.all(peers.map(async p => await killPeer(p)))
  }
}

describe('coordinator bootstrap of peers started together (static join, 127.0.0.1)', () => {
  afterEach(async () => { await cleanupPeers() })
  afterAll(async () => { await cleanupPeers() })

  // More rounds to hunt a rare race: PMZ_BOOTSTRAP_ROUNDS=K multiplies both (the suite's 5 and 2 fit its time budget).
  const more = Number(process.env.PMZ_BOOTSTRAP_ROUNDS ?? 1)
  for (const [n, rounds] of [[3, 5 * more], [5, 2 * more]] as const) {
    it(`${n} peers started at once, ${rounds} times: one bootstrap, no committed setting lost`, async () => {
      const times: string[] = []
      for (let r = 0; r < rounds; r++) {
        const { bootstraps, committed, kept, ms } = await round(n, `r${r}`)
        times.push(ms)
        expect(bootstraps, `round ${r}: bootstrap lines`).toBe(1)
        for (const key of committed) expect(kept, `round ${r}: ${key} survived`).toHaveProperty(key)
      }
      console.log(`${n} peers x ${rounds} rounds, ms to ready/written/converged: ${times.join(', ')}`)
    }, 150_000)
  }
})
