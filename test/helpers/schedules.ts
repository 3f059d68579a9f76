// Schedules on real peers (issue 15): a 3-peer cluster whose seed leaves
// evidence of every run, and the firings read back from it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { converged } from './cluster.js'
import { http, waitFor } from './http.js'
import { JSON_HEADERS } from './jobs.js'
import { startPeer, tempDir, type Peer } from './peer.js'

/** The seed: one line per run with the schedule and tick it fired for (ctx.schedule). */
export const TICK_SEED = `import { appendFileSync } from 'node:fs'
export default (args, ctx) => {
  const s = ctx.schedule ?? {}
  appendFileSync(args.evidence, JSON.stringify({ s: s.scheduleId, tick: s.firedAt, jobId: ctx.jobId, attempt: ctx.attempt, peer: ctx.peerId, at: Date.now() }) + '\\n')
  return s.firedAt ?? null
}
`
export const TICK = 'sf/tick'

/** One run of the seed. */
export interface Run { s: number, tick: number, jobId: number, attempt: number, peer: string, at: number }

/** A schedule's firings, from the evidence: the jobs (distinct ids) of each tick and when each first ran. */
export interface Firings {
  /** tick -> the job ids that fired for it (more than one is a duplicate firing). */
  jobs: Map<number, Set<number>>
  /** tick -> when its first run started (the runner's wall clock). */
  ranAt: Map<number, number>
}

export function readRuns (evidence: string): Run[] {
  return readFileSync(evidence, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Run)
}

/** The firings of schedule `s` (a run repeated after a lost attempt is the same job: one firing). */
export function firingsOf (runs: Run[], s: number): Firings {
  const out: Firings = { jobs: new Map(), ranAt: new Map() }
  for (const r of runs) {
    if (r.s !== s) continue
    const ids = out.jobs.get(r.tick) ?? new Set<number>()
    ids.add(r.jobId)
    out.jobs.set(r.tick, ids)
    out.ranAt.set(r.tick, Math.min(out.ranAt.get(r.tick) ?? Infinity, r.at))
  }
  return out
}

/** `(schedule, tick)` pairs fired by more than one job. */
export function duplicates (f: Firings, s: number): string[] {
  return [...f.jobs].filter(([, ids]) => ids.size > 1).map(([tick, ids]) => `${s}@${tick}: jobs ${[...ids].join(',')}`)
}

/** The ticks of an `everyMs` schedule from `from` to `to` (both ticks) that did not fire. */
export function missing (f: Firings, from: number, to: number, everyMs = 1000): number[] {
  const out: number[] = []
  for (let t = from; t <= to; t += everyMs) if (!f.jobs.has(t)) out.push(t)
  return out
}

export interface ScheduleCluster {
  peers: Peer[]
  evidence: string
  seedDirs: string[]
  /** `pmz node` flags of peer `i` (its seeds), without a join list. */
  flags: (i: number) => string[]
}

/** Three peers, each a coordinator voter and a worker holding the tick seed; resolves once they agree on a leader and all hold the seed. */
export async function startScheduleCluster (cluster: string): Promise<ScheduleCluster> {
  const evidence = join(tempDir('pmz-sched-evidence-'), 'runs.jsonl')
  writeFileSync(evidence, '')
  const seedDirs = [0, 1, 2].map(() => {
    const dir = tempDir('pmz-sched-seeds-')
    mkdirSync(join(dir, 'sf'))
    writeFileSync(join(dir, `${TICK}.mjs`), TICK_SEED)
    return dir
  })
  const flags = (i: number): string[] => ['--seeds', seedDirs[i], '--job-slots', '4']
  const first = await startPeer({ cluster, args: flags(0) })
  const rest = await Promise.all([1, 2].map(async i => await startPeer({ cluster, args: [...flags(i), '--join', first.mesh] })))
  const peers = [first, ...rest]
  await converged(peers, peers.map(p => p.id), 20_000)
  await waitFor(async () => await leaderOf(peers) !== undefined, 20_000, 'a coordinator')
  await waitFor(async () => {
    const res = await http('GET', `${first.url}/admin/job_catalog`)
    return (res.json?.data as Array<{ path: string, peers: string[] }>).find(r => r.path === TICK)?.peers.length === 3
  }, 15_000, `${TICK} on every worker`)
  return { peers, evidence, seedDirs, flags }
}

interface Coord { leader?: { peerId: string } }

/** The leader every peer of `peers` names, or undefined while they disagree or one does not answer. */
export async function leaderOf (peers: Peer[]): Promise<string | undefined> {
  const all = await Promise.all(peers.map(async p => {
    const res = await http('GET', `${p.url}/admin/coordinator`).catch(() => undefined)
    return res?.status === 200 ? (res.json?.data as Coord).leader?.peerId : undefined
  }))
  return all.every(id => id !== undefined && id === all[0]) ? all[0] : undefined
}

/** Creates a schedule of the tick seed through `peer`; the schedule id. */
export async function schedule (peer: Peer, evidence: string, scheduled: Record<string, unknown>): Promise<number> {
  const res = await http('POST', `${peer.url}/launch_job/${TICK}`, JSON.stringify({ evidence, scheduled }), JSON_HEADERS)
  if (res.status !== 200) throw new Error(`schedule refused: ${res.status} ${JSON.stringify(res.json)}`)
  return (res.json?.data as { job_id: number }).job_id
}
