// The jobs bench's failure figure: on 3 peers, a long job's worker is killed
// with SIGKILL; how long until the job's next attempt runs on another peer.
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, type Peer } from '../helpers/peer.js'
import { NOOP, startJobPeers } from './jobs-peers.js'

const LONG = 'export default async (args) => { await new Promise(resolve => setTimeout(resolve, args.ms)); return "slept" }\n'

interface Detail { state: string, node: string | null }

async function detail (peer: Peer, id: number): Promise<Detail | undefined> {
  const res = await http('GET', `${peer.url}/admin/jobs/${id}`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as Detail : undefined
}

async function launchLong (peer: Peer): Promise<number> {
  const res = await http('POST', `${peer.url}/launch_job/bench/long`, JSON.stringify({ ms: 600_000 }), { 'content-type': 'application/json' })
  if (res.status !== 200) throw new Error(`launch answered ${res.status}: ${res.body.toString()}`)
  return (res.json?.data as { job_id: number }).job_id
}

/**
 * Kills, with SIGKILL, a worker that is not the coordinator leader (so that
 * the figure is the worker's failure alone) while it runs a long job; the
 * time from the kill to the job `running` on another peer, and to the
 * leader's membership saying the victim is dead.
 */
export async function rerunBench (): Promise<{ restartMs: number, deadMs: number }> {
  try {
    const peers = await startJobPeers(3, { noop: NOOP, long: LONG })
    const leaderId = (await http('GET', `${peers[0].url}/admin/coordinator`)).json?.data.leader?.peerId as string
    const leader = peers.find(p => p.id === leaderId) as Peer
    // Placement takes the least busy peer: a second long job lands elsewhere if the first went to the leader.
    let id = 0
    let victim: Peer | undefined
    for (let i = 0; i < 3 && victim === undefined; i++) {
      id = await launchLong(leader)
      let d: Detail | undefined
      await waitFor(async () => (d = await detail(leader, id))?.state === 'running', 10_000, 'the long job to run')
      if (d?.node !== leaderId) victim = peers.find(p => p.id === d?.node)
    }
    if (victim === undefined) throw new Error('every long job went to the leader')
    const killedAt = Date.now()
    await killPeer(victim)
    let deadMs = -1
    const dead = waitFor(async () => {
      const rows = (await http('GET', `${leader.url}/admin/network`)).json?.data as Array<{ node: string, state: string }>
      if (rows.find(r => r.node === victim.id)?.state !== 'dead') return false
      deadMs = Date.now() - killedAt
      return true
    }, 30_000, 'the victim declared dead', 10)
    await waitFor(async () => {
      const d = await detail(leader, id)
      return d?.state === 'running' && d.node !== victim.id
    }, 60_000, 'the job to run on another peer', 10)
    const restartMs = Date.now() - killedAt
    await dead.catch(() => {})
    return { restartMs, deadMs }
  } finally {
    await cleanupPeers()
  }
}
