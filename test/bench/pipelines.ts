// Issue 17's benchmark: 1 KB packets through 3 stages (source -> no-op
// middle -> sink) on 1 peer and across 3 peers (each stage on its own peer),
// beside the raw zeromq PUSH/PULL chain of 3 processes carrying the same
// packets (pipelines-raw.ts), measured in the same run. Each topology runs
// at its peak, then paced at half of that peak.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg } from 'node:os'
import { join } from 'node:path'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'
import { PROFILE_DIR, stopForProfile } from './jobs-peers.js'
import { fmt, table, treeCpuSeconds, wallMs } from './lib.js'
import { rawChainBench, type RawChainResult } from './pipelines-raw.js'
import { MIDDLE, SINK, SOURCE, TAG_IN, TAG_MID, type SinkLine } from './pipelines-seeds.js'

const PACKETS = Number(process.env.PMZ_BENCH_PACKETS ?? 30_000)
/** Packets of the unmeasured first run of each topology (stage children warm, JIT done). */
const WARMUP = Number(process.env.PMZ_BENCH_WARMUP ?? 3_000)
const BYTES = 1024
/** Longest a run may take, ms. */
const RUN_TIMEOUT_MS = Number(process.env.PMZ_BENCH_TIMEOUT_MS ?? 300_000)
/** PMZ_BENCH_ONLY=raw,1peer,3peers: the parts to run; PMZ_BENCH_NOHALF=1: the peaks only (A/B runs, profiles). */
const ONLY = process.env.PMZ_BENCH_ONLY?.split(',')
const only = (part: string): boolean => ONLY === undefined || ONLY.includes(part)

const STAGES = { source: 'bench/src', middle: 'bench/mid', sink: 'bench/sink' }

interface Row { run: string, packets: number, packetsPerS: number, p50Ms: number, p99Ms: number, cpuUsPerPacket: number, dups: number }

/** Peers of a topology: `placement[i]` lists the stages peer i holds. */
async function startPipelinePeers (placement: Array<Array<keyof typeof STAGES>>, out: string): Promise<Peer[]> {
  const cluster = `bench-${randomUUID().slice(0, 8)}`
  const text = { source: SOURCE, middle: MIDDLE, sink: SINK(out) }
  const seedsDir = (stages: Array<keyof typeof STAGES>): string => {
    const dir = tempDir('pmz-bench-seeds-')
    mkdirSync(join(dir, 'bench'))
    for (const s of stages) writeFileSync(join(dir, `${STAGES[s]}.mjs`), text[s])
    return dir
  }
  // node refuses --cpu-prof in NODE_OPTIONS: a shell puts it on the command line and execs node (same pid).
  const wrap = PROFILE_DIR === undefined ? undefined : ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${PROFILE_DIR} "$@"`]
  const first = await startPeer({ cluster, wrap, args: ['--seeds', seedsDir(placement[0])] })
  const rest = await Promise.all(placement.slice(1).map(async stages => await startPeer({ cluster, wrap, args: ['--seeds', seedsDir(stages), '--join', first.mesh] })))
  const peers = [first, ...rest]
  await converged(peers, peers.map(p => p.id), 20_000)
  // Every peer knows the graph, and each stage has its instance up.
  await waitFor(async () => {
    for (const p of peers) {
      const s = (await http('GET', `${p.url}/admin/pipelines`)).json?.data as { tags: Record<string, string[]>, stages: Array<{ stage: string, peers: Array<{ instances: number }> }> } | undefined
      if (s?.tags[TAG_IN]?.includes(STAGES.middle) !== true || s.tags[TAG_MID]?.includes(STAGES.sink) !== true) return false
      if (!Object.values(STAGES).every(name => s.stages.find(x => x.stage === name)?.peers.some(q => q.instances > 0) === true)) return false
    }
    return true
  }, 30_000, 'the bench graph on every peer, each stage with an instance')
  return peers
}

let runIds = 0

/** One run: the source is told to make `packets` packets (`ratePerS` 0: as fast as it is pulled); resolves once the sink has them all. */
async function runOnce (peers: Peer[], out: string, name: string, packets: number, ratePerS = 0): Promise<Row> {
  const run = ++runIds
  const cpu = (): number => peers.reduce((t, p) => t + treeCpuSeconds(p.pid), 0)
  const cpu0 = cpu()
  const t0 = wallMs()
  const res = await http('POST', `${peers[0].url}/pipelines/events/go`, JSON.stringify({ stages: [STAGES.source], args: { run, packets, rate: ratePerS, bytes: BYTES } }), { 'content-type': 'application/json' })
  if (res.status !== 200) throw new Error(`events/go: ${res.status} ${res.body.toString()}`)
  let line: SinkLine | undefined
  await waitFor(() => {
    if (!existsSync(out)) return false
    line = readFileSync(out, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as SinkLine).find(l => l.run === run)
    return line !== undefined
  }, RUN_TIMEOUT_MS, `run ${run} (${name}) at the sink`, 20)
  const cpuUs = (cpu() - cpu0) * 1e6 / packets
  const l = line as SinkLine
  if (PROFILE_DIR !== undefined) console.log(`  ${name}: ${fmt((wallMs() - t0) / 1000, 1)} s`)
  return { run: name, packets, packetsPerS: packets / ((l.lastAt - l.firstBornAt) / 1000), p50Ms: l.p50, p99Ms: l.p99, cpuUsPerPacket: cpuUs, dups: l.dups }
}

/** A topology: warm-up, peak, then half of that peak. */
async function topology (name: string, placement: Array<Array<keyof typeof STAGES>>): Promise<Row[]> {
  const out = join(tempDir('pmz-bench-sink-'), 'sink.jsonl')
  let peers: Peer[] = []
  try {
    peers = await startPipelinePeers(placement, out)
    if (WARMUP > 0) await runOnce(peers, out, `${name} warm-up`, WARMUP)
    const peak = await runOnce(peers, out, `${name} peak`, PACKETS)
    if (process.env.PMZ_BENCH_NOHALF !== undefined) return [peak]
    const half = await runOnce(peers, out, `${name} half of peak rate`, Math.max(1000, Math.round(PACKETS / 2)), peak.packetsPerS / 2)
    return [peak, half]
  } finally {
    await stopForProfile(peers)
    await cleanupPeers()
  }
}

const rawRow = (name: string, r: RawChainResult): Row => ({ run: name, packets: r.packets, packetsPerS: r.packetsPerS, p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuUsPerPacket: r.cpuUsPerPacket, dups: 0 })

export async function pipelinesBench (): Promise<void> {
  console.log(`\n== pipelines: ${PACKETS} packets of ${BYTES} B, source -> no-op -> sink, on 1 peer and across 3 peers, beside a raw zeromq chain ==`)
  const rows: Row[] = []
  let raw: { peak: Row, half: Row } | undefined
  if (only('raw')) {
    const r = await rawChainBench(PACKETS)
    raw = { peak: rawRow('raw zeromq chain peak', r.peak), half: rawRow('raw zeromq chain half of peak rate', r.half) }
    rows.push(raw.peak, raw.half)
  }
  if (only('1peer')) rows.push(...await topology('pmz 1 peer', [['source', 'middle', 'sink']]))
  if (only('3peers')) rows.push(...await topology('pmz 3 peers', [['source'], ['middle'], ['sink']]))
  const ref = (r: Row): Row | undefined => r.run.includes('half') ? raw?.half : raw?.peak
  table(rows.map(r => ({
    run: r.run,
    packets: r.packets,
    'packets/s': fmt(r.packetsPerS),
    'x raw': ref(r) === undefined ? '' : fmt(r.packetsPerS / (ref(r) as Row).packetsPerS, 2),
    'p50 ms': fmt(r.p50Ms, 2),
    'p99 ms': fmt(r.p99Ms, 2),
    'CPU µs/packet': fmt(r.cpuUsPerPacket, 1),
    'x raw CPU': ref(r) === undefined ? '' : fmt(r.cpuUsPerPacket / (ref(r) as Row).cpuUsPerPacket, 2),
    dups: r.dups
  })))
  console.log('source: a source seed (async generator) started by a custom `go` event, so the figures measure the pipeline, not an HTTP client. Each packet is stamped')
  console.log('with the wall time when the generator makes it (the raw chain: when its source sends it); the sink stage records now - stamp. packets/s: the packets over')
  console.log('first stamp -> last arrival. CPU: user + system of every pmz process and its children (stage instances) from the go event to the sink\'s last packet,')
  console.log('per packet (the raw chain: its 3 processes). Half of peak rate: the source paced at half the peak measured just before, on the same peers.')
  console.log(`dups: copies the sink saw again (at-least-once). Every stage has maxInstances 1, like the raw chain's one process per stage. ${availableParallelism()} cores for everything (load average now ${loadavg().map(l => fmt(l, 1)).join(' ')}).`)
  console.log('targets: 3 peers >= 0.5x the raw chain\'s packets/s; p99 <= 20 ms at half of peak rate')
}
