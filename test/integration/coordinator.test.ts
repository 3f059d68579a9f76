import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'

interface Status { peerId: string, role: string, term: number, leader?: { peerId: string, term: number }, voters: Record<string, string>, lastApplied: number }

async function status (peer: Peer): Promise<Status | undefined> {
  const res = await http('GET', `${peer.url}/admin/coordinator`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as Status : undefined
}

/** The leader every peer of `peers` agrees on, with `voters` voters, once they do. */
async function agreedLeader (peers: Peer[], voters: number, timeoutMs: number): Promise<string> {
  let leader = ''
  await waitFor(async () => {
    const all = await Promise.all(peers.map(status))
    const ids = new Set(all.map(s => s?.leader?.peerId))
    if (ids.size !== 1 || all.some(s => s === undefined || Object.keys(s.voters).length !== voters)) return false
    leader = [...ids][0] ?? ''
    return leader !== ''
  }, timeoutMs, `${peers.length} peers to agree on a leader of ${voters} voters`, 50)
  return leader
}

async function setSetting (peer: Peer, key: string, value: unknown): Promise<{ status: number, msg?: string }> {
  const res = await http('PUT', `${peer.url}/admin/config/${key}`, JSON.stringify(value))
  return { status: res.status, msg: res.json?.msg }
}

async function settings (peer: Peer): Promise<Record<string, unknown>> {
  const res = await http('GET', `${peer.url}/admin/config`)
  expect(res.status).toBe(200)
  return res.json?.data as Record<string, unknown>
}


const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

describe('coordinator elected by real peers (static join, 127.0.0.1)', () => {
  const cluster = `coord-${randomUUID().slice(0, 8)}`
  let peers: Peer[] = []

  afterAll(async () => { await cleanupPeers() })

  it('three voters elect one coordinator; a kill -9 is replaced within 3 s and nothing committed is lost', async () => {
    peers.push(await startPeer({ cluster }))
    const join = ['--join', peers[0].mesh]
    peers.push(...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: join }))))
    let leader = await agreedLeader(peers, 3, 30_000)

    const committed: Record<string, unknown> = {}
    const failovers: number[] = []
    for (let round = 0; round < 3; round++) {
      // Entries committed through every peer (followers forward to the leader).
      for (const [i, p] of peers.entries()) {
        const key = `r${round}p${i}`
        committed[key] = { round, i }
        expect((await setSetting(p, key, committed[key])).status).toBe(200)
      }
      const victim = peers.find(p => p.id === leader) as Peer
      const survivors = peers.filter(p => p !== victim)
      await killPeer(victim)
      const killedAt = Date.now()
      await waitFor(async () => {
        const all = await Promise.all(survivors.map(status))
        const ids = new Set(all.map(s => s?.leader?.peerId))
        const [next] = ids
        return ids.size === 1 && next !== undefined && next !== victim.id
      }, 10_000, 'the survivors to agree on a new coordinator', 25)
      failovers.push(Date.now() - killedAt)
      expect(await settings(survivors[0])).toEqual(committed)

      // The old coordinator comes back and follows.
      // On a new port (port 0), joining a survivor: the voters find it where membership sees it.
      peers = [...survivors, await restartPeer(victim, { args: ['--join', survivors[0].mesh] })]
      leader = await agreedLeader(peers, 3, 15_000)
      expect(leader).not.toBe(victim.id)
      expect(await settings(peers[2])).toEqual(committed)
    }
    console.log(`coordinator failover after kill -9: ${failovers.join(', ')} ms (median ${median(failovers)})`)
    expect(median(failovers)).toBeLessThan(3_000)
  })

  it('a peer without the coordinator role knows the coordinator and forwards to it', async () => {
    const gateway = await startPeer({ cluster, args: ['--join', peers[0].mesh, '--role', 'volume,gateway'] })
    const leader = await agreedLeader(peers, 3, 10_000)
    await waitFor(async () => {
      const rows = (await http('GET', `${gateway.url}/admin/network`)).json?.data as Array<{ node: string, coordinator: boolean }>
      return rows.length === 4 && rows.filter(r => r.coordinator).map(r => r.node).join() === leader
    }, 10_000, 'the gateway-only peer to mark the coordinator in admin/network')
    expect((await setSetting(gateway, 'via-gateway', [1, 2])).status).toBe(200)
    expect(await settings(gateway)).toHaveProperty('via-gateway', [1, 2])
    const counted = await http('POST', `${gateway.url}/admin/counter/hits?by=3`)
    expect(counted.json?.data).toBe(3)
    expect((await http('PUT', `${gateway.url}/admin/config/x`, '{not json')).status).toBe(400)
    await killPeer(gateway)
  })

  it('five voters commit with two killed; with three killed a proposal fails with a clear error', async () => {
    const join = ['--join', peers[0].mesh]
    peers.push(...await Promise.all([3, 4].map(async () => await startPeer({ cluster, args: join }))))
    const leader = await agreedLeader(peers, 5, 30_000)
    const followers = peers.filter(p => p.id !== leader)
    const leaderPeer = peers.find(p => p.id === leader) as Peer

    await killPeer(followers[0])
    await killPeer(followers[1])
    expect((await setSetting(leaderPeer, 'two-down', true)).status).toBe(200)
    expect((await setSetting(followers[2], 'two-down-via-follower', true)).status).toBe(200)

    await killPeer(followers[2])
    const started = Date.now()
    const res = await setSetting(leaderPeer, 'three-down', true)
    expect(res.status).toBe(503)
    expect(res.msg).toMatch(/coordinator|committed/)
    expect(Date.now() - started).toBeLessThan(10_000)
    // Reads are linearizable: without a majority they fail too, rather than answer stale data.
    expect((await http('GET', `${leaderPeer.url}/admin/config`)).status).toBe(503)
  })
})
