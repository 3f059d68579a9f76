// The stage seeds of the pipelines bench (pipelines.ts): a source whose
// generator waits for a `go` event and then yields a run's 1 KB packets (as
// fast as it is pulled, or paced), a no-op middle, and a sink that writes one
// JSON line per finished run to a file. A packet's first 20 bytes: the wall
// time it was made (f64, ms), its sequence number, its run, the run's size
// (u32 each); the rest is filler.

export const TAG_IN = 'bench.raw'
export const TAG_MID = 'bench.mid'

/** What the sink writes once a run's packets have all arrived (distinct sequence numbers). */
export interface SinkLine {
  run: number
  packets: number
  /** Copies received again (at least once: redeliveries). */
  dups: number
  /** Wall ms: the earliest stamp among the run's packets, and when the last one arrived. */
  firstBornAt: number
  lastAt: number
  p50: number
  p99: number
}

export const SOURCE = `export const produces = ${JSON.stringify(TAG_IN)}
export const maxInstances = 1
const runs = []
let wake
const now = () => performance.timeOrigin + performance.now()
export const events = { go (args) { runs.push(args); wake?.() } }
export async function * source () {
  for (;;) {
    while (runs.length === 0) await new Promise(resolve => { wake = resolve })
    const { run, packets, rate, bytes } = runs.shift()
    const t0 = now()
    for (let i = 0; i < packets; i++) {
      if (rate > 0) {
        const wait = t0 + i * 1000 / rate - now()
        if (wait > 1) await new Promise(resolve => setTimeout(resolve, wait))
      }
      const b = Buffer.alloc(bytes, 120)
      b.writeDoubleLE(now(), 0)
      b.writeUInt32LE(i, 8)
      b.writeUInt32LE(run, 12)
      b.writeUInt32LE(packets, 16)
      yield b
    }
  }
}
`

export const MIDDLE = `export const consumes = ${JSON.stringify(TAG_IN)}
export const produces = ${JSON.stringify(TAG_MID)}
export const maxInstances = 1
export function run (packet) { return packet.payload }
`

export const SINK = (out: string): string => `import { appendFileSync } from 'node:fs'
export const consumes = ${JSON.stringify(TAG_MID)}
export const maxInstances = 1
const runs = new Map()
const finished = new Set()
const now = () => performance.timeOrigin + performance.now()
export function run (packet) {
  const at = now()
  const b = packet.payload
  const seq = b.readUInt32LE(8)
  const id = b.readUInt32LE(12)
  const total = b.readUInt32LE(16)
  if (finished.has(id)) return
  let r = runs.get(id)
  if (r === undefined) { r = { seen: new Uint8Array(total), latencies: new Float64Array(total), n: 0, dups: 0, first: Infinity }; runs.set(id, r) }
  if (r.seen[seq] === 1) { r.dups++; return }
  r.seen[seq] = 1
  const born = b.readDoubleLE(0)
  r.latencies[r.n++] = at - born
  if (born < r.first) r.first = born
  if (r.n === total) {
    r.latencies.sort()
    const q = x => r.latencies[Math.min(total - 1, Math.floor(x * total))]
    appendFileSync(${JSON.stringify(out)}, JSON.stringify({ run: id, packets: total, dups: r.dups, firstBornAt: r.first, lastAt: at, p50: q(0.5), p99: q(0.99) }) + '\\n')
    runs.delete(id)
    finished.add(id)
  }
}
`
