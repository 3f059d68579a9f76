import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { pino } from 'pino'
import { systemClock } from '../../src/common/clock.js'
import { ELECTION_TIMEOUT_MS } from '../../src/coordinator/constants.js'
import { ClusterConfigMachine, LmdbRaftStorage, MemoryRaftStorage, createCoordinator, type ClusterConfigCommand, type ClusterConfigResult, type Coordinator, type RaftStorage } from '../../src/coordinator/index.js'
import { MemoryNetwork, createTransport, type Transport } from '../../src/mesh/transport/index.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, type Peer } from '../helpers/peer.js'
import { fmt } from './lib.js'

const IDS = ['a', 'b', 'c']
const VALUE = 'x'.repeat(1024)
const DURATION_MS = 3_000
const log = pino({ level: 'silent' })

interface Setup { name: string, transports: () => Promise<Transport[]>, storage: (id: string, dir: string) => RaftStorage }
interface Figures { perSec: number, p50: number, p99: number, failed: number }

/** Runs `op` from `window` concurrent loops for DURATION_MS; counts completions and latencies. */
async function drive (window: number, op: (i: number) => Promise<unknown>): Promise<Figures> {
  const latencies: number[] = []
  let next = 0
  let failed = 0
  const end = performance.now() + DURATION_MS
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now()
      try { await op(next++) } catch { failed++ }
      latencies.push(performance.now() - t0)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: window }, loop))
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { perSec: (latencies.length - failed) / ((performance.now() - started) / 1000), p50: at(0.5), p99: at(0.99), failed }
}

async function runSetup (s: Setup, windows: number[]): Promise<Array<Record<string, string>>> {
  const dir = mkdtempSync(join(tmpdir(), 'pmz-raft-bench-'))
  const transports = await s.transports()
  const nodes: Array<Coordinator<ClusterConfigCommand, ClusterConfigResult>> = []
  const rows: Array<Record<string, string>> = []
  try {
    const voters = transports.map(t => ({ peerId: t.peerId, address: t.address() }))
    for (const t of transports) {
      t.handle('bench.echo', req => ({ type: 'bench.echo.reply', n: (req.msg.value as string).length }))
      const co = createCoordinator({ transport: t, clock: systemClock, log }, { storage: s.storage(t.peerId, dir), voters }, new ClusterConfigMachine())
      await co.start()
      nodes.push(co)
    }
    await waitFor(() => nodes.some(n => n.isLeader()), 10_000, 'a leader among the bench voters', 20)
    const leader = nodes.find(n => n.isLeader()) as Coordinator<ClusterConfigCommand, ClusterConfigResult>
    const follower = transports.find(t => t.peerId !== leader.peerId) as Transport
    const leaderAddress = leader.leader()?.address as string
    // Warm-up, then each window: the reference (plain 1 KB request/reply leader<-follower) and the coordinator.
    await drive(16, async i => await leader.propose({ op: 'set', key: `w${i % 1000}`, value: VALUE }))
    for (const window of windows) {
      const ref = await drive(window, async () => await follower.request(leaderAddress, { type: 'bench.echo', value: VALUE }))
      const raft = await drive(window, async i => await leader.propose({ op: 'set', key: `k${i % 1000}`, value: VALUE }))
      rows.push({
        setup: s.name,
        window: String(window),
        'req/s (ref)': fmt(ref.perSec),
        'commits/s': fmt(raft.perSec),
        'commits/ref': fmt(raft.perSec / ref.perSec, 2),
        'p50/p99 ms': `${fmt(raft.p50, 2)}/${fmt(raft.p99, 2)}`,
        failed: String(raft.failed)
      })
    }
  } finally {
    for (const n of nodes) await n.stop()
    for (const t of transports) await t.stop()
    rmSync(dir, { recursive: true, force: true })
  }
  return rows
}

/**
 * Committed entries per second, 3 voters in one process, 1 KB commands
 * proposed on the leader by `window` concurrent callers (batching and
 * pipelining carry them), beside a reference measured in the same run: plain
 * 1 KB request/reply round trips over the same transport and concurrency.
 */
export async function coordinatorBench (): Promise<void> {
  const memoryTransports = async (): Promise<Transport[]> => {
    const net = new MemoryNetwork({ clock: systemClock })
    const ts = IDS.map(id => net.createTransport(id))
    for (const t of ts) await t.start()
    return ts
  }
  const zmqTransports = async (): Promise<Transport[]> => {
    const ts = IDS.map(id => createTransport({ clock: systemClock, log }, { peerId: id, host: '127.0.0.1', port: 0, clusterKey: 'bench-key', cluster: 'bench' }))
    for (const t of ts) await t.start()
    return ts
  }
  const setups: Setup[] = [
    { name: 'memory transport, memory log', transports: memoryTransports, storage: () => new MemoryRaftStorage() },
    { name: 'memory transport, LMDB fsync', transports: memoryTransports, storage: (id, dir) => new LmdbRaftStorage({ dir: join(dir, id) }) },
    { name: 'ZeroMQ, LMDB fsync', transports: zmqTransports, storage: (id, dir) => new LmdbRaftStorage({ dir: join(dir, id) }) },
    { name: 'ZeroMQ, LMDB sync=os', transports: zmqTransports, storage: (id, dir) => new LmdbRaftStorage({ dir: join(dir, id), sync: 'os' }) }
  ]
  console.log('\n== coordinator: 3 voters, 1 KB commands proposed on the leader, vs 1 KB request/reply on the same transport ==')
  const rows: Array<Record<string, string>> = []
  // The components' timers are unref()ed; something must keep the process alive meanwhile.
  const keepAlive = setInterval(() => {}, 1_000)
  try {
    for (const s of setups) rows.push(...await runSetup(s, [1, 64, 512]))
  } finally {
    clearInterval(keepAlive)
  }
  console.table(rows)
  await coordinatorFailoverBench()
}

const FAILOVER_ROUNDS = 20
/** Poll interval while waiting for the survivors to agree on a new coordinator, ms. */
const FAILOVER_POLL_MS = 15
/** The target: a new coordinator within 3 s of losing the old one. */
const FAILOVER_TARGET_MS = 3_000

interface CoordinatorStatus { leader?: { peerId: string, term: number }, voters: Record<string, string> }

async function coordinatorStatus (peer: Peer): Promise<CoordinatorStatus | undefined> {
  const res = await http('GET', `${peer.url}/admin/coordinator`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as CoordinatorStatus : undefined
}

/** The leader (peer id and term) all of `peers` report, with `voters` voters each, or undefined while they differ. */
async function commonLeader (peers: Peer[], voters?: number): Promise<{ peerId: string, term: number } | undefined> {
  const all = await Promise.all(peers.map(coordinatorStatus))
  const first = all[0]?.leader
  if (first === undefined) return undefined
  for (const s of all) {
    if (s?.leader === undefined || s.leader.peerId !== first.peerId || s.leader.term !== first.term) return undefined
    if (voters !== undefined && Object.keys(s.voters).length !== voters) return undefined
  }
  return first
}

async function agreedLeader (peers: Peer[], voters: number, timeoutMs: number): Promise<string> {
  let leader = ''
  await waitFor(async () => {
    leader = (await commonLeader(peers, voters))?.peerId ?? ''
    return leader !== ''
  }, timeoutMs, `${peers.length} peers to agree on a leader of ${voters} voters`, 50)
  return leader
}

/**
 * Failover of real peers: 3 `bin/pmz node` processes on 127.0.0.1; each
 * round commits an entry, kill -9s the coordinator and measures the ms from
 * the signal until both survivors report the same new leader (polled every
 * FAILOVER_POLL_MS), checks that every entry committed so far is still read
 * back, then restarts the victim and waits for 3 agreeing voters again.
 * Reference: the configured election timeout range [ELECTION_TIMEOUT_MS, 2 *
 * ELECTION_TIMEOUT_MS); the target is a new coordinator within 3 s.
 */
export async function coordinatorFailoverBench (): Promise<void> {
  console.log(`\n== coordinator failover: 3 real peers, kill -9 of the coordinator x${FAILOVER_ROUNDS}, vs the election timeout ${ELECTION_TIMEOUT_MS}-${2 * ELECTION_TIMEOUT_MS} ms ==`)
  const keepAlive = setInterval(() => {}, 1_000)
  const failovers: number[] = []
  const rejoins: number[] = []
  let lost = 0
  try {
    const cluster = `bench-failover-${randomUUID().slice(0, 8)}`
    const first = await startPeer({ cluster })
    let peers = [first, ...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: ['--join', first.mesh] })))]
    let leader = await agreedLeader(peers, 3, 30_000)
    const committed: Record<string, unknown> = {}
    for (let round = 0; round < FAILOVER_ROUNDS; round++) {
      // Committed through a different peer each round (followers forward to the leader).
      const key = `failover-r${round}`
      const value = { round, at: Date.now() }
      const put = await http('PUT', `${peers[round % peers.length].url}/admin/config/${key}`, JSON.stringify(value))
      if (put.status !== 200) throw new Error(`round ${round}: commit answered ${put.status} ${put.json?.msg ?? ''}`)
      committed[key] = value

      const victim = peers.find(p => p.id === leader) as Peer
      const survivors = peers.filter(p => p !== victim)
      const killedAt = performance.now()
      await killPeer(victim)
      await waitFor(async () => {
        const next = await commonLeader(survivors)
        return next !== undefined && next.peerId !== victim.id
      }, 10_000, `round ${round}: the survivors to agree on a new coordinator`, FAILOVER_POLL_MS)
      failovers.push(performance.now() - killedAt)

      // Linearizable read: may answer 503 for a moment while the new leader settles.
      let read: Record<string, unknown> | undefined
      await waitFor(async () => {
        const res = await http('GET', `${survivors[0].url}/admin/config`).catch(() => undefined)
        read = res?.status === 200 ? res.json?.data as Record<string, unknown> : undefined
        return read !== undefined
      }, 10_000, `round ${round}: admin/config to answer on a survivor`, FAILOVER_POLL_MS)
      lost += Object.entries(committed).filter(([k, v]) => !isDeepStrictEqual(read?.[k], v)).length

      // On a new port (port 0), joining a survivor.
      const restartedAt = performance.now()
      peers = [...survivors, await restartPeer(victim, { args: ['--join', survivors[0].mesh] })]
      leader = await agreedLeader(peers, 3, 30_000)
      rejoins.push(performance.now() - restartedAt)
    }
  } finally {
    clearInterval(keepAlive)
    await cleanupPeers()
    // Also after a failed round: the figures of the rounds completed so far.
    printFailover(failovers, rejoins, lost)
  }
}

function printFailover (failovers: number[], rejoins: number[], lost: number): void {
  if (failovers.length === 0) return
  const sorted = [...failovers].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
  console.table([{
    kills: String(failovers.length),
    'election timeout ms (ref)': `${ELECTION_TIMEOUT_MS}-${2 * ELECTION_TIMEOUT_MS}`,
    'median ms': fmt(at(0.5)),
    'p90 ms': fmt(at(0.9)),
    'p99 ms': fmt(at(0.99)),
    'min ms': fmt(sorted[0] ?? 0),
    'max ms': fmt(sorted[sorted.length - 1] ?? 0),
    'median/(2*timeout)': fmt(at(0.5) / (2 * ELECTION_TIMEOUT_MS), 2),
    'entries lost': String(lost),
    [`max < ${FAILOVER_TARGET_MS} ms`]: String((sorted[sorted.length - 1] ?? Infinity) < FAILOVER_TARGET_MS)
  }])
  const rejoinSorted = [...rejoins].sort((a, b) => a - b)
  console.log(`failover ms per kill: ${failovers.map(n => fmt(n)).join(', ')}`)
  console.log(`restart of the victim until 3 voters agree again: median ${fmt(rejoinSorted[Math.floor(rejoinSorted.length / 2)] ?? 0)} ms, max ${fmt(rejoinSorted[rejoinSorted.length - 1] ?? 0)} ms`)
}
