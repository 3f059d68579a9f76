import { randomUUID } from 'node:crypto'
import { http, waitFor } from '../helpers/http.js'
import { converged, repaired, ringView as ring } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, startPeer } from '../helpers/peer.js'
import { fmt, load, memory, transfer } from './lib.js'
import { replicationSmallBench, startMesh } from './replication-cpu.js'

const C = 16
const N = 3
const VALUE = Buffer.alloc(1024, 'x')
const GIB = 1024 ** 3
const REPAIR_KEYS = 10_000
const GRACE_S = 2

/**
 * The replication benchmarks: issue 19's CPU-per-request ratios
 * (replication-cpu.ts); 1 GiB streamed through the non-owner gateway (MB/s, its peak
 * RSS); time from a volume peer's kill -9 to every key back at N copies.
 */
export async function replicationBench (): Promise<void> {
  await replicationSmallBench()
  await replicationBigBench()
  await replicationRepairBench()
}

/** 1 GiB streamed up and down through the non-owner gateway: MB/s and the gateway's RSS. */
export async function replicationBigBench (): Promise<void> {
  try {
    const { gw } = await startMesh()
    console.log('\n== replication: 1 GiB PUT then GET through the non-owner gateway ==')
    const before = memory(gw.pid)
    const put = await transfer('PUT', `${gw.url}/add_key/bench/1gib.bin`, GIB)
    const afterPut = memory(gw.pid)
    const get = await transfer('GET', `${gw.url}/get_key/bench/1gib.bin`, GIB)
    const afterGet = memory(gw.pid)
    const same = get.sha256 === put.sha256
    console.table([
      { op: 'PUT 1 GiB via gw', 'MB/s': fmt(GIB / 2 ** 20 / put.seconds), 'gw peak RSS MB': fmt(afterPut.hwm), 'gw RSS before MB': fmt(before.rss), status: String(put.status) },
      { op: 'GET 1 GiB via gw', 'MB/s': fmt(GIB / 2 ** 20 / get.seconds), 'gw peak RSS MB': fmt(afterGet.hwm), 'gw RSS before MB': fmt(before.rss), status: `${get.status} sha256 ${same ? 'match' : 'MISMATCH'}` }
    ])
  } finally {
    await cleanupPeers()
  }
}

/** 10,000 keys on 4 volume peers; kill -9 one; time until every key has N copies again. */
export async function replicationRepairBench (): Promise<void> {
  try {
    console.log(`\n== replication: ${REPAIR_KEYS} x 1 KB on 4 volume peers (N=${N}), kill -9 one, time to N copies again (grace ${GRACE_S} s) ==`)
    const rc = `rep-${randomUUID().slice(0, 8)}`
    const env = { PMZ_DEAD_PEER_GRACE_S: String(GRACE_S) }
    const args = ['--replicas', String(N), '--write-quorum', '2']
    const first = await startPeer({ cluster: rc, args, env })
    const peers = [first, ...await Promise.all([1, 2, 3].map(async () => await startPeer({ cluster: rc, env, args: [...args, '--join', first.mesh] })))]
    await converged(peers, peers.map(p => p.id), 20_000)
    await waitFor(async () => (await Promise.all(peers.map(ring))).every(v => v?.volumePeers?.length === 4), 20_000, 'rings over 4 peers')
    const w = await load(first.url, { method: 'PUT', amount: REPAIR_KEYS, connections: C, body: VALUE, path: i => `/add_key/rep/k${i}` })
    console.log(`wrote ${REPAIR_KEYS} keys: ${fmt(w.rps)} req/s, ${w.errors} errors, ${w.non2xx} non-2xx`)
    const settle = await repaired(peers, REPAIR_KEYS, N, 60_000, 50)
    console.log(`initial placement settled ${settle.total} ms after the writes`)

    const victim = peers[3]
    const live = peers.slice(0, 3)
    const died = Date.now()
    await killPeer(victim)
    let detected = -1
    const detection = waitFor(async () => {
      for (const p of live) {
        const rows = (await http('GET', `${p.url}/admin/network`)).json?.data as Array<{ node: string, state: string }> | undefined
        const r = rows?.find(x => x.node === victim.id)
        if (r !== undefined && r.state !== 'dead' && r.state !== 'left') return false
      }
      detected = Date.now() - died
      return true
    }, 60_000, 'survivors to declare the victim dead', 25)
    const progress = setInterval(() => {
      void Promise.all(live.map(ring)).then(vs => console.log(`  +${Date.now() - died} ms: localKeys ${vs.map(v => v?.localKeys).join('/')} (target sum ${REPAIR_KEYS * N}), underReplicated ${vs.map(v => v?.underReplicated).join('/')}, keysRepaired ${vs.map(v => (v as any)?.antiEntropy?.keysRepaired).join('/')}`))
    }, 15_000)
    let t: Awaited<ReturnType<typeof repaired>> | undefined
    const repairStart = Date.now()
    try {
      t = await repaired(live, REPAIR_KEYS, N, 120_000, 50)
    } catch (err) {
      console.log(`repair did not finish: ${String(err)}`)
    } finally {
      clearInterval(progress)
    }
    await detection.catch(() => {})
    const total = Date.now() - died
    const views = await Promise.all(live.map(ring))
    console.table([{
      keys: REPAIR_KEYS,
      'grace s': GRACE_S,
      'kill -> all survivors say dead ms': detected,
      'kill -> under_replicated 0 everywhere ms': t === undefined || t.underZero < 0 ? `not within ${total} ms` : t.underZero + (repairStart - died),
      'kill -> N copies (entry counts) ms': t === undefined ? `not within ${total} ms` : total,
      'localKeys per survivor': views.map(v => v?.localKeys).join(', '),
      'lastRepairMs per survivor': views.map(v => v?.lastRepairMs).join(', ')
    }])
  } finally {
    await cleanupPeers()
  }
}
