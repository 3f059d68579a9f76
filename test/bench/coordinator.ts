import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { systemClock } from '../../src/common/clock.js'
import { ClusterConfigMachine, LmdbRaftStorage, MemoryRaftStorage, createCoordinator, type ClusterConfigCommand, type ClusterConfigResult, type Coordinator, type RaftStorage } from '../../src/coordinator/index.js'
import { MemoryNetwork, createTransport, type Transport } from '../../src/mesh/transport/index.js'
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
    while (!nodes.some(n => n.isLeader())) await new Promise(resolve => setTimeout(resolve, 20))
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
}
