import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { waitFor } from '../helpers/http.js'
import { converged, ringView } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'
import { KeyIndex } from '../../src/extensions/search/key-index.js'
import { cpuSeconds, fmt, load, memory } from './lib.js'

const N = 3
const C = 16
const VALUE = Buffer.alloc(1024, 'm')

/** A list of positive integers from the environment, or the default. */
function sizes (name: string, fallback: number[]): number[] {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const out = raw.split(',').map(s => Number(s.trim()))
  if (out.some(n => !Number.isInteger(n) || n <= 0)) throw new Error(`${name}: expected positive integers separated by commas, got "${raw}"`)
  return out.sort((a, b) => a - b)
}

function seconds (name: string, fallback: number): number {
  const raw = process.env[name]
  const n = raw === undefined || raw === '' ? fallback : Number(raw)
  if (!(n > 0)) throw new Error(`${name}: expected a positive number of seconds, got "${raw ?? ''}"`)
  return n
}

/**
 * Issue 19's million-key figures on 3 volume peers (N=3, W=2), 1 KB values:
 * for each size (PMZ_BENCH_MILLION_KEYS, default 10000,100000,1000000) the
 * load time, then once every copy is placed the idle CPU of each peer over
 * PMZ_BENCH_IDLE_S (default 60) seconds, read from /proc (robust to a shared
 * machine), and RSS. At the largest size: the start-up time of a restarted
 * peer, and the repair time after an outage of PMZ_BENCH_OUTAGE_S (default
 * 60) seconds during which PMZ_BENCH_OUTAGE_WRITES (default 1000) keys are
 * written and as many deleted. The dead-peer grace is set well above the
 * outage, so the peer stays on the ring and repair moves only what changed.
 * Last, the search index's heap bytes per key, measured in this process.
 */
export async function millionBench (): Promise<void> {
  const steps = sizes('PMZ_BENCH_MILLION_KEYS', [10_000, 100_000, 1_000_000])
  const idleS = seconds('PMZ_BENCH_IDLE_S', 60)
  const outageS = seconds('PMZ_BENCH_OUTAGE_S', 60)
  const outageWrites = Math.round(seconds('PMZ_BENCH_OUTAGE_WRITES', 1000))
  console.log(`\n== million: ${steps.join(', ')} x 1 KB keys on ${N} peers (N=${N}, W=2); idle ${idleS} s, outage ${outageS} s ==`)
  try {
    const cluster = `million-${randomUUID().slice(0, 8)}`
    const env = { PMZ_DEAD_PEER_GRACE_S: String(Math.max(300, outageS * 10)), PMZ_STORE_SYNC: 'os' }
    const args = ['--replicas', String(N), '--write-quorum', '2']
    const first = await startPeer({ cluster, args, env, readyTimeoutMs: 120_000 })
    const peers: Peer[] = [first, ...await Promise.all([1, 2].map(async () => await startPeer({ cluster, env, args: [...args, '--join', first.mesh], readyTimeoutMs: 120_000 })))]
    await converged(peers, peers.map(p => p.id), 30_000)
    await waitFor(async () => (await Promise.all(peers.map(ringView))).every(v => v?.volumePeers?.length === N), 30_000, 'rings over 3 peers')
    const rows: Array<Record<string, string>> = []
    let written = 0
    for (const size of steps) {
      const t0 = Date.now()
      const w = await load(first.url, { method: 'PUT', amount: size - written, connections: C, body: VALUE, path: i => `/add_key/m/k${written + i}` })
      const loadS = (Date.now() - t0) / 1000
      written = size
      const placedS = await allPlaced(peers, size, Math.max(120_000, size / 20))
      const idle = await idleCpu(peers, idleS)
      rows.push({
        keys: String(size),
        'load s': fmt(loadS, 1),
        'load req/s': fmt(w.rps),
        'err/non2xx': `${w.errors}/${w.non2xx}`,
        'placed after load s': fmt(placedS, 1),
        'idle CPU core/peer': idle.map(x => fmt(x.all, 4)).join(' '),
        'of it main thread': idle.map(x => fmt(x.main, 4)).join(' '),
        'AE CPU s/min/peer': idle.map(x => fmt(x.all * 60, 2)).join(' '),
        'RSS MB/peer': peers.map(p => fmt(memory(p.pid).rss)).join(' '),
        'of it anon MB': peers.map(p => fmt(memory(p.pid).anon)).join(' ')
      })
      console.table(rows.slice(-1))
    }
    console.table(rows)

    // Start-up: a clean stop and a start on the same data.
    const victim = peers[2]
    await killPeer(victim, 'SIGTERM')
    const s0 = Date.now()
    peers[2] = await restartPeer(victim, { readyTimeoutMs: 600_000 })
    const startupMs = Date.now() - s0
    await allPlaced(peers, written, 120_000)
    console.log(`start-up of a peer holding ${await storeKeys(peers[2])} keys: ${startupMs} ms to its ready line, RSS ${fmt(memory(peers[2].pid).rss)} MB`)

    // Outage: kill -9, writes and deletes elsewhere meanwhile, restart, time to every copy in place.
    await killPeer(peers[2])
    const down = Date.now()
    await load(first.url, { method: 'PUT', amount: outageWrites, connections: 4, body: VALUE, path: i => `/add_key/m/outage${i}` })
    await load(first.url, { method: 'DELETE', amount: Math.min(outageWrites, written), connections: 4, path: i => `/delete_key/m/k${i}` })
    const rest = outageS * 1000 - (Date.now() - down)
    if (rest > 0) await new Promise(resolve => setTimeout(resolve, rest)) // the outage itself: a duration, not a synchronisation
    const cpuBefore = peers.slice(0, 2).map(p => threadCpu(p.pid))
    const r0 = Date.now()
    peers[2] = await restartPeer(victim, { readyTimeoutMs: 600_000 })
    const ready = Date.now() - r0
    const live = written - Math.min(outageWrites, written) + outageWrites
    await allPlaced(peers, live, 600_000)
    const repairMs = Date.now() - r0
    const cpu = peers.slice(0, 2).map((p, i) => { const now = threadCpu(p.pid); return `${fmt(now.all - cpuBefore[i].all, 2)} (main thread ${fmt(now.main - cpuBefore[i].main, 2)})` })
    console.log(`outage of ${outageS} s (${outageWrites} writes + ${Math.min(outageWrites, written)} deletes missed): ready after ${ready} ms, every copy in place ${repairMs} ms after the restart; the survivors' CPU meanwhile ${cpu.join(' / ')} s`)
    const perKey = indexBytesPerKey(Math.min(written, 200_000))
    console.log(`search index: ${fmt(perKey.heap, 1)} JS heap + ${fmt(perKey.offHeap, 1)} off-heap bytes per key (KeyIndex of ${Math.min(written, 200_000)} keys, measured in this process)`)
  } finally {
    await cleanupPeers()
  }
}

/**
 * Seconds until every peer holds `keys` live keys and reports nothing
 * under-replicated. The counts come from each peer's metrics (its store's
 * own count): admin/status counts the cluster's live keys by listing every
 * key of every peer, and polling it twice a second was most of the CPU the
 * survivors spent while a peer was being repaired (at 100,000 keys, 4 s of
 * 5), and left garbage that GC collected during the idle measurement.
 */
async function allPlaced (peers: Peer[], keys: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  await waitFor(async () => {
    const views = await Promise.all(peers.map(ringView))
    if (views.some(v => v === undefined || v.underReplicated !== 0)) return false
    return (await Promise.all(peers.map(storeKeys))).every(n => n === keys)
  }, timeoutMs, `${peers.length} peers to hold ${keys} keys each`, 500)
  return (Date.now() - t0) / 1000
}

/** Live keys in the peer's own store (the pmz_store_keys gauge); -1 when it does not answer. */
async function storeKeys (peer: Peer): Promise<number> {
  const res = await fetch(`${peer.url}/metrics`).catch(() => undefined)
  if (res === undefined || res.status !== 200) return -1
  const m = /^pmz_store_keys(?:\{[^}]*\})? (\d+)$/m.exec(await res.text())
  return m === null ? -1 : Number(m[1])
}

/** CPU seconds of a process so far: its main (JS) thread, and all its threads (GC helpers, libuv pool, ZeroMQ, LMDB). */
function threadCpu (pid: number): { main: number, all: number } {
  const ticks = (path: string): number => {
    const stat = readFileSync(path, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  }
  return { main: ticks(`/proc/${pid}/task/${pid}/stat`), all: cpuSeconds(pid) }
}

/** Each peer's CPU over `s` seconds of no requests, in cores: all threads, and the main thread alone. */
async function idleCpu (peers: Peer[], s: number): Promise<Array<{ all: number, main: number }>> {
  // Let the last repair round and the settle time pass first.
  await new Promise(resolve => setTimeout(resolve, 10_000))
  const before = peers.map(p => threadCpu(p.pid))
  const t0 = Date.now()
  await new Promise(resolve => setTimeout(resolve, s * 1000))
  const wall = (Date.now() - t0) / 1000
  return peers.map((p, i) => {
    const now = threadCpu(p.pid)
    return { all: (now.all - before[i].all) / wall, main: (now.main - before[i].main) / wall }
  })
}

/** Bytes per key of the search extension's KeyIndex holding `n` keys like the bench's: on the JS heap (what GC marks) and off it (its packed buffers, capacity included). */
function indexBytesPerKey (n: number): { heap: number, offHeap: number } {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const before = process.memoryUsage()
  const index = new KeyIndex()
  const now = Date.now()
  for (let i = 0; i < n; i++) index.upsert({ key: `/m/k${i}`, created: now - (i % 1000) * 86_400_000, expires: null })
  gc()
  const after = process.memoryUsage()
  if (index.size !== n) throw new Error('index lost keys')
  return { heap: (after.heapUsed - before.heapUsed) / n, offHeap: index.packedBytes / n }
}
