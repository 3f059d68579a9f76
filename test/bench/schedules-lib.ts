// The schedules bench's seed and what it leaves: one line per run with the
// schedule, the tick it fired for (ctx.schedule), the job id and when the
// seed's function started; read back incrementally while the bench runs.
import { randomUUID } from 'node:crypto'
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from 'undici'
import { JSON_HEADERS } from '../helpers/jobs.js'
import { tempDir, type Peer } from '../helpers/peer.js'
import { leaderOf } from '../helpers/schedules.js'
import { NOOP, SLOTS } from './jobs-peers.js'

/** The tick seed: appends `scheduleId tick jobId startedAt` (wall ms) to args.evidence; the file stays open in a reused child. */
export const TICK_SEED = `import { openSync, writeSync } from 'node:fs'
const fds = new Map()
export default (args, ctx) => {
  const at = performance.timeOrigin + performance.now()
  const s = ctx.schedule ?? {}
  let fd = fds.get(args.evidence)
  if (fd === undefined) fds.set(args.evidence, fd = openSync(args.evidence, 'a'))
  writeSync(fd, s.scheduleId + ' ' + s.firedAt + ' ' + ctx.jobId + ' ' + at.toFixed(2) + '\\n')
  return null
}
`

/** One run of the tick seed. */
export interface Run { s: number, tick: number, jobId: number, at: number }

/** An evidence file and the runs read from it so far (each read takes only the lines appended since the last). */
export class Evidence {
  readonly path: string
  readonly runs: Run[] = []
  private offset = 0
  private rest = ''

  constructor () {
    this.path = join(tempDir('pmz-bench-evidence-'), 'runs.txt')
    writeFileSync(this.path, '')
  }

  /** Reads the lines appended since the last call; all runs so far. */
  read (): Run[] {
    const fd = openSync(this.path, 'r')
    try {
      const buf = Buffer.alloc(1 << 20)
      for (let n = readSync(fd, buf, 0, buf.length, this.offset); n > 0; n = readSync(fd, buf, 0, buf.length, this.offset)) {
        this.offset += n
        const text = this.rest + buf.toString('latin1', 0, n)
        const lines = text.split('\n')
        this.rest = lines.pop() as string
        for (const line of lines) {
          const [s, tick, jobId, at] = line.split(' ').map(Number)
          this.runs.push({ s, tick, jobId, at })
        }
      }
    } finally {
      closeSync(fd)
    }
    return this.runs
  }
}

/** What the runs of ticks in [from, to) say: firings (distinct schedule and tick), tick → start delays of each firing's first run, duplicates (a tick fired as two jobs). */
export function firingsIn (runs: readonly Run[], from: number, to: number): { firings: number, delays: number[], duplicates: number, reruns: number } {
  const first = new Map<string, { jobId: number, at: number }>()
  let duplicates = 0
  let reruns = 0
  for (const r of runs) {
    if (r.tick < from || r.tick >= to) continue
    const key = `${r.s}@${r.tick}`
    const seen = first.get(key)
    if (seen === undefined) first.set(key, { jobId: r.jobId, at: r.at })
    else if (seen.jobId !== r.jobId) duplicates++
    else reruns++ // the same job run again after a lost attempt: one firing
    if (seen !== undefined && r.at < seen.at) seen.at = r.at
  }
  const delays: number[] = []
  for (const [key, { at }] of first) delays.push(at - Number(key.slice(key.indexOf('@') + 1)))
  return { firings: first.size, delays, duplicates, reruns }
}

/** Per schedule, the ticks (every `everyMs`) between its first and last fired tick in [from, to) that never ran. */
export function lostTicks (runs: readonly Run[], from: number, to: number, everyMs = 1000): number {
  const ticks = new Map<number, Set<number>>()
  for (const r of runs) {
    if (r.tick < from || r.tick >= to) continue
    const set = ticks.get(r.s) ?? new Set<number>()
    set.add(r.tick)
    ticks.set(r.s, set)
  }
  let lost = 0
  for (const set of ticks.values()) {
    const sorted = [...set].sort((a, b) => a - b)
    lost += Math.round((sorted[sorted.length - 1] - sorted[0]) / everyMs) + 1 - sorted.length
  }
  return lost
}

/** The schedules' policies: every tick runs (catchUp all) and a tick never waits for the previous firing (overlap allow). */
export const SCHEDULED = { every: '1 second', overlap: 'allow', catchUp: 'all' }
export const SEEDS = { noop: NOOP, tick: TICK_SEED }

/** Creates `count` schedules of the tick seed, at concurrency SLOTS, round-robin over the peers; their ids. */
export async function createSchedules (pools: Pool[], count: number, evidence: string): Promise<number[]> {
  const ids: number[] = []
  let i = 0
  const body = JSON.stringify({ evidence, scheduled: SCHEDULED })
  const run = randomUUID()
  await Promise.all(Array.from({ length: SLOTS }, async () => {
    while (i < count) {
      const n = i++
      // A 503 (the coordinator busy or changing) is retried with the same idempotency key: one schedule whatever happened to the first try.
      for (let attempt = 1; ; attempt++) {
        const res = await pools[n % pools.length].request({ path: '/launch_job/bench/tick', method: 'POST', body, headers: { ...JSON_HEADERS, 'idempotency-key': `${run}-${n}` } })
        const json = await res.body.json() as { data?: { job_id?: number }, msg?: string }
        if (res.statusCode === 200 && json.data?.job_id !== undefined) {
          ids.push(json.data.job_id)
          break
        }
        if (res.statusCode !== 503 || attempt >= 30) throw new Error(`schedule refused: ${res.statusCode} ${json.msg ?? ''} (try ${attempt})`)
        await new Promise(resolve => setTimeout(resolve, 200))
      }
    }
  }))
  return ids
}

export async function leaderPeer (peers: Peer[]): Promise<Peer> {
  let id: string | undefined
  const deadline = Date.now() + 20_000
  while ((id = await leaderOf(peers)) === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  const leader = peers.find(p => p.id === id)
  if (leader === undefined) throw new Error('no leader all peers agree on')
  return leader
}

