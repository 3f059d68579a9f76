// The reference of the pipelines bench (issue 17): a raw zeromq PUSH/PULL
// chain of 3 processes, source -> middle (no-op) -> sink, carrying the same
// 1 KB packets as pmz's 3-stage pipeline. `npm run bench -- pipelines` runs it
// beside pmz in the same run; alone: `npx tsx test/bench/pipelines-raw.ts [N]`.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { cpuSeconds, fmt, stopProcess, table } from './lib.js'

export interface RawChainOptions {
  /** Packets carried. */
  packets: number
  /** Bytes of each packet (its first 12 hold the send time and a sequence number). @default 1024 */
  bytes?: number
  /** Packets per second the source sends; 0 = as fast as the chain takes them. @default 0 */
  ratePerS?: number
  /** Longest the run may take, ms. @default 120 s */
  timeoutMs?: number
}

export interface RawChainResult {
  packets: number
  /** From the source's first send to the sink's last receive, s. */
  seconds: number
  packetsPerS: number
  /** End-to-end latency, send to receive at the sink, ms. */
  p50Ms: number
  p99Ms: number
  /** CPU time (user + system) of the three processes during the run, per packet, µs. */
  cpuUsPerPacket: number
}

const STAGE = join(import.meta.dirname, 'pipelines-raw-stage.mjs')

/** Starts one process of the chain; resolves with it and its first JSON line. */
async function startStage (role: 'source' | 'middle' | 'sink', env: Record<string, string>): Promise<{ proc: ChildProcess, first: Record<string, unknown>, lines: AsyncIterator<string> }> {
  const proc = spawn(process.execPath, [STAGE], { env: { ...process.env, ...env, ROLE: role }, stdio: ['pipe', 'pipe', 'inherit'], detached: true })
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]()
  const exited = new Promise<never>((_resolve, reject) => proc.once('exit', code => reject(new Error(`${role} exited with ${code}`))))
  exited.catch(() => {})
  const next = await Promise.race([lines.next(), exited])
  if (next.done === true) throw new Error(`${role} ended before it was ready`)
  return { proc, first: JSON.parse(next.value) as Record<string, unknown>, lines }
}

async function nextJson (lines: AsyncIterator<string>, what: string, deadline: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish in time`)), Math.max(0, deadline - Date.now())) })
  try {
    const next = await Promise.race([lines.next(), timeout])
    if (next.done === true) throw new Error(`${what} ended early`)
    return JSON.parse(next.value) as Record<string, unknown>
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Carries `packets` packets through a fresh chain of three processes and
 * measures throughput, end-to-end latency and CPU time per packet (from
 * /proc, each process's time during the run only: start-up excluded).
 */
export async function runRawChain (opts: RawChainOptions): Promise<RawChainResult> {
  const env = { PACKETS: String(opts.packets), BYTES: String(opts.bytes ?? 1024), RATE: String(opts.ratePerS ?? 0) }
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000)
  const procs: ChildProcess[] = []
  try {
    const sink = await startStage('sink', env)
    procs.push(sink.proc)
    const middle = await startStage('middle', { ...env, NEXT: String(sink.first.endpoint) })
    procs.push(middle.proc)
    const source = await startStage('source', { ...env, NEXT: String(middle.first.endpoint) })
    procs.push(source.proc)
    const pids = procs.map(p => p.pid as number)
    const cpuBefore = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    sink.proc.stdin!.write('go\n')
    source.proc.stdin!.write('go\n')
    const sent = await nextJson(source.lines, 'the source', deadline)
    const done = await nextJson(sink.lines, 'the sink', deadline)
    const cpuAfter = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0)
    const seconds = (Number(done.lastAt) - Number(sent.startedAt)) / 1000
    return {
      packets: opts.packets,
      seconds,
      packetsPerS: opts.packets / seconds,
      p50Ms: Number(done.p50),
      p99Ms: Number(done.p99),
      cpuUsPerPacket: (cpuAfter - cpuBefore) * 1e6 / opts.packets
    }
  } finally {
    for (const p of procs) stopProcess(p)
  }
}

/** The raw chain at its peak, then paced at half the peak: the figures pmz's pipeline is compared with. */
export async function rawChainBench (packets = 100_000): Promise<{ peak: RawChainResult, half: RawChainResult }> {
  await runRawChain({ packets: Math.min(packets, 10_000) }) // warm-up: page cache, JIT of the parent's side
  const peak = await runRawChain({ packets })
  const half = await runRawChain({ packets: Math.max(1000, Math.round(packets / 2)), ratePerS: peak.packetsPerS / 2 })
  return { peak, half }
}

export function rawChainRow (name: string, r: RawChainResult): Record<string, string> {
  return {
    run: name,
    packets: String(r.packets),
    'packets/s': fmt(r.packetsPerS),
    'p50 ms': fmt(r.p50Ms, 2),
    'p99 ms': fmt(r.p99Ms, 2),
    'CPU µs/packet': fmt(r.cpuUsPerPacket, 1)
  }
}

if (process.argv[1] === import.meta.filename) {
  const packets = Number(process.argv[2] ?? 100_000)
  console.log(`\n== pipelines reference: raw zeromq PUSH/PULL, 3 processes (source -> no-op -> sink), ${packets} x 1 KB ==`)
  const { peak, half } = await rawChainBench(packets)
  table([rawChainRow('peak', peak), rawChainRow('half of peak rate', half)])
}
