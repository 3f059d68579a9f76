import { randomUUID } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { http, waitFor } from '../helpers/http.js'
import { converged, network, repaired, ringView as ring } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, startPeer, type Peer } from '../helpers/peer.js'
import { cpuSeconds, fmt, load, memory, transfer, type LoadResult } from './lib.js'

const OPS = 3000
const C = 16
const N = 3
const VALUE = Buffer.alloc(1024, 'x')
const GIB = 1024 ** 3
const REPAIR_KEYS = 10_000
const GRACE_S = 2

/**
 * Issue 4's benchmark: 1 KB PUT/GET at c=16 on one peer, then through a
 * 3-peer mesh (N=3, W=2) via an owner and a non-owner gateway, as ratios to
 * the one peer; 1 GiB streamed through the non-owner gateway (MB/s, its peak
 * RSS); time from a volume peer's kill -9 to every key back at N copies.
 */
export async function replicationBench (): Promise<void> {
  await replicationSmallBench()
  await replicationBigBench()
  await replicationRepairBench()
}

/** A 3-peer mesh (N=3, W=2) of volume peers and a fourth peer that is only a gateway (never an owner). */
async function startMesh (): Promise<{ a: Peer, gw: Peer, all: Peer[] }> {
  const meshArgs = ['--replicas', String(N), '--write-quorum', '2', '--maxsize', '2048']
  const cluster = `bench-${randomUUID().slice(0, 8)}`
  const a = await startPeer({ cluster, args: meshArgs })
  const [b, c2] = await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...meshArgs, '--join', a.mesh] })))
  const gw = await startPeer({ cluster, args: [...meshArgs, '--join', a.mesh, '--role', 'gateway,coordinator'] })
  await converged([a, b, c2, gw], [a, b, c2, gw].map(p => p.id), 20_000)
  await waitFor(async () => (await ring(gw))?.volumePeers?.length === 3, 20_000, 'gateway to see 3 volume peers')
  return { a, gw, all: [a, b, c2, gw] }
}

/** 1 KB PUT then GET at c=16: one peer, then the 3-peer mesh via an owner and via a non-owner gateway. */
export async function replicationSmallBench (): Promise<void> {
  try {
    console.log(`\n== replication: ${OPS} x 1 KB PUT then GET at c=${C}; one peer vs 3-peer mesh (N=${N}, W=2) ==`)
    const single = await startPeer()
    const { a, gw, all } = await startMesh()
    type Measured = LoadResult & { cpuUs: number }
    /** The load, and the CPU time every peer of `cluster` spent on it, µs per request. */
    const measured = async (via: Peer, cluster: Peer[], opts: Parameters<typeof load>[1]): Promise<Measured> => {
      const before = cluster.reduce((t, p) => t + cpuSeconds(p.pid), 0)
      const r = await load(via.url, opts)
      const after = cluster.reduce((t, p) => t + cpuSeconds(p.pid), 0)
      return { ...r, cpuUs: (after - before) / opts.amount * 1e6 }
    }
    const run = async (p: Peer, cluster: Peer[], tag: string): Promise<{ put: Measured, get: Measured }> => {
      const put = await measured(p, cluster, { method: 'PUT', amount: OPS, connections: C, body: VALUE, path: i => `/add_key/bench/${tag}/k${i}` })
      const get = await measured(p, cluster, { method: 'GET', amount: OPS, connections: C, path: i => `/get_key/bench/${tag}/k${i}` })
      for (const [op, r] of [['PUT', put], ['GET', get]] as const) {
        if (r.errors + r.non2xx > 0) console.log(`WARNING ${tag} ${op}: ${r.errors} errors, ${r.non2xx} non-2xx`)
      }
      return { put, get }
    }
    // Warm-up on every target.
    for (const p of [single, a, gw]) await run(p, p === single ? [single] : all, `warm-${p.id.slice(0, 6)}`)
    const one = await run(single, [single], 'one')
    const owner = await run(a, all, 'owner')
    const nonOwner = await run(gw, all, 'gw')
    const rows: Array<Record<string, string>> = []
    for (const op of ['put', 'get'] as const) {
      for (const [name, r] of [['one peer', one], ['mesh via owner', owner], ['mesh via non-owner gw', nonOwner]] as const) {
        rows.push({
          op: op.toUpperCase(),
          target: name,
          'req/s': fmt(r[op].rps),
          'x one peer': fmt(r[op].rps / one[op].rps, 2),
          'p50 ms': fmt(r[op].p50, 2),
          'p99 ms': fmt(r[op].p99, 2),
          'CPU us/req (all peers)': fmt(r[op].cpuUs),
          'err/non2xx': `${r[op].errors}/${r[op].non2xx}`
        })
      }
    }
    console.table(rows)
    console.log(`targets: mesh PUT >= 0.5x one peer, p99 <= 5 ms at c=${C}`)
    console.log(`CPU us/req: user+system time of every peer process of the setup per request; this machine has ${availableParallelism()} cores for all of them and the load generator.`)

  } finally {
    await cleanupPeers()
  }
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
