// Jobs across a coordinator failover (issue 14): 300 short jobs launched over
// HTTP on a 3-peer cluster (every peer a voter and a worker); the leader is
// kill -9'd while they are in flight and restarted. Every job must end once,
// ready or failed, and no job may run twice at the same time. The seed leaves
// the evidence: each run appends a start line and an end line to one file.
// Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { converged, pool } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const JOBS = 300
const KILL_AFTER = 100
const SEED = `import { appendFileSync } from 'node:fs'
export default async (args, ctx) => {
  const run = { jobId: Number(ctx.jobId), attempt: ctx.attempt, peer: ctx.peerId, start: Date.now() }
  appendFileSync(args.evidence, JSON.stringify(run) + '\\n')
  await new Promise(resolve => setTimeout(resolve, args.ms))
  appendFileSync(args.evidence, JSON.stringify({ ...run, end: Date.now(), ok: !args.fail }) + '\\n')
  if (args.fail) throw new Error('planned failure')
  return ctx.attempt
}
`

interface Run { jobId: number, attempt: number, peer: string, start: number, end?: number, ok?: boolean }
interface AttemptView { attempt: number, node: string, outcome: string | null, reason: string | null }
interface Detail { job: string, state: string, node: string | null, output: unknown, error: string | null, attempts: AttemptView[] }
interface Coord { leader?: { peerId: string } }

async function leaderOf (peers: Peer[]): Promise<string | undefined> {
  const all = await Promise.all(peers.map(async p => {
    const res = await http('GET', `${p.url}/admin/coordinator`).catch(() => undefined)
    return res?.status === 200 ? (res.json?.data as Coord).leader?.peerId : undefined
  }))
  return all.every(id => id !== undefined && id === all[0]) ? all[0] : undefined
}

/** Launches with an idempotency key through whichever peer answers, until one accepts; the job id. */
async function launch (peers: () => Peer[], key: string, args: Record<string, unknown>, deadline: number): Promise<number> {
  for (let i = 0; ; i++) {
    const p = peers()[i % peers().length]
    const res = await http('POST', `${p.url}/launch_job/fo/nap`, JSON.stringify(args), { 'content-type': 'application/json', 'idempotency-key': key }).catch(() => undefined)
    if (res?.status === 200) return (res.json?.data as { job_id: number }).job_id
    if (Date.now() > deadline) throw new Error(`launch ${key} not accepted: ${res?.status ?? 'no answer'} ${JSON.stringify(res?.json)}`)
    if (i % 3 === 2) await new Promise(resolve => setTimeout(resolve, 100)) // every peer said no: let the election finish
  }
}

describe('jobs across a coordinator failover (issue 14)', () => {
  afterAll(cleanupPeers)

  it('every one of 300 jobs ends once, ready or failed, and none runs twice at once, when the leader is kill -9\'d mid-flight', async () => {
    const cluster = `fo-${randomUUID().slice(0, 8)}`
    const evidence = join(tempDir('pmz-fo-evidence-'), 'runs.jsonl')
    writeFileSync(evidence, '')
    const seedDirs = [0, 1, 2].map(() => {
      const dir = tempDir('pmz-fo-seeds-')
      mkdirSync(join(dir, 'fo'))
      writeFileSync(join(dir, 'fo/nap.mjs'), SEED)
      return dir
    })
    const flags = (i: number): string[] => ['--seeds', seedDirs[i], '--job-slots', '4']
    const first = await startPeer({ cluster, args: flags(0) })
    const rest = await Promise.all([1, 2].map(async i => await startPeer({ cluster, args: [...flags(i), '--join', first.mesh] })))
    let peers = [first, ...rest]
    await converged(peers, peers.map(p => p.id), 20_000)
    let leaderId: string | undefined
    await waitFor(async () => (leaderId = await leaderOf(peers)) !== undefined, 20_000, 'a coordinator')
    await waitFor(async () => {
      const res = await http('GET', `${first.url}/admin/job_catalog`)
      return (res.json?.data as Array<{ path: string, peers: string[] }>).find(r => r.path === 'fo/nap')?.peers.length === 3
    }, 15_000, 'fo/nap on every worker')

    const t0 = Date.now()
    const deadline = t0 + 40_000
    const ids = new Map<number, number>() // index -> job id
    const planned = (i: number): { ms: number, fail: boolean } => ({ ms: 50 + (i * 37) % 251, fail: i % 25 === 7 })
    let killedAt = 0
    let diedBy = 0
    let victim: Peer | undefined
    const killer = (async () => {
      await waitFor(() => ids.size >= KILL_AFTER, 30_000, `${KILL_AFTER} launches`, 10)
      victim = peers.find(p => p.id === leaderId) as Peer
      peers = peers.filter(p => p !== victim)
      killedAt = Date.now()
      await killPeer(victim)
      diedBy = Date.now() // the victim's last run started before it died: at or after killedAt (the signal lands later), by this time
      const before = Date.now() - t0
      await waitFor(async () => ![undefined, victim?.id].includes(await leaderOf(peers)), 15_000, 'a new coordinator')
      console.log(`${ids.size} launched in ${before} ms when the leader was killed`)
      const failoverMs = Date.now() - killedAt
      // Port 0 gives it a new mesh port: it joins through a survivor.
      const back = await restartPeer(victim, { args: [...flags(seedDirs.indexOf(victim.options.args?.[1] ?? '')), '--join', peers[0].mesh] })
      peers = [...peers, back]
      return failoverMs
    })()
    await pool([...Array(JOBS).keys()], 16, async i => {
      ids.set(i, await launch(() => peers, `${cluster}-${i}`, { evidence, ...planned(i) }, deadline))
    })
    const launchedMs = Date.now() - t0
    const failoverMs = await killer

    // Every job launched exists and ends; nothing else was created (a retried launch is deduplicated).
    const unique = new Set(ids.values())
    expect(unique.size).toBe(JOBS)
    const survivor = peers[0]
    let buckets = { pendings: [] as unknown[], ready: [] as unknown[], failed: [] as unknown[] }
    await waitFor(async () => {
      const res = await http('GET', `${survivor.url}/admin/jobs?limit=${JOBS * 2}`).catch(() => undefined)
      if (res?.status !== 200) return false
      buckets = res.json?.data as typeof buckets
      return buckets.pendings.length === 0 && buckets.ready.length + buckets.failed.length === JOBS
    }, Math.max(1000, deadline - Date.now()), 'every job to end')
    const endedMs = Date.now() - t0

    const details = new Map<number, Detail>()
    await pool([...unique], 8, async id => {
      const res = await http('GET', `${survivor.url}/admin/jobs/${id}`)
      expect(res.status).toBe(200)
      details.set(id, res.json?.data as Detail)
    })
    const runs = new Map<number, Map<number, Run>>() // job id -> attempt -> run
    for (const line of readFileSync(evidence, 'utf8').split('\n')) {
      if (line === '') continue
      const r = JSON.parse(line) as Run
      const byAttempt = runs.get(r.jobId) ?? new Map<number, Run>()
      const seen = byAttempt.get(r.attempt)
      if (r.end === undefined) expect(seen, `job ${r.jobId} attempt ${r.attempt} started twice`).toBeUndefined()
      else expect(seen?.end, `job ${r.jobId} attempt ${r.attempt} ended twice`).toBeUndefined()
      byAttempt.set(r.attempt, { ...seen, ...r })
      runs.set(r.jobId, byAttempt)
    }

    const lost = new Map<string, number>() // reason -> attempts
    for (const [i, id] of ids) {
      const job = details.get(id) as Detail
      const jobRuns = [...(runs.get(id)?.values() ?? [])].sort((a, b) => a.start - b.start)
      const where = `job ${id}: ${JSON.stringify(job.attempts)} runs ${JSON.stringify(jobRuns)}`
      expect(job.state, where).toBe(planned(i).fail ? 'failed' : 'ready')
      // Attempts are numbered 1..n; only the last one ended the job, every earlier one was lost to the kill.
      expect(job.attempts.map(a => a.attempt), where).toEqual(job.attempts.map((_, k) => k + 1))
      job.attempts.slice(0, -1).forEach(a => expect(a.outcome, where).toBe('lost'))
      for (const a of job.attempts.slice(0, -1)) lost.set(String(a.reason), (lost.get(String(a.reason)) ?? 0) + 1)
      const last = job.attempts[job.attempts.length - 1]
      expect(last.outcome, where).toBe(job.state)
      // The last attempt ran to its end on the peer the table names.
      const final = jobRuns.find(r => r.attempt === last.attempt)
      expect(final, where).toMatchObject({ peer: last.node, ok: !planned(i).fail })
      expect(final?.end, where).toBeDefined()
      if (job.state === 'ready') expect(job.output, where).toBe(last.attempt)
      for (const r of jobRuns) {
        // Every run is an attempt of the table, on its peer; a run that never ended was on the killed peer.
        expect(job.attempts.find(a => a.attempt === r.attempt)?.node, where).toBe(r.peer)
        if (r.end === undefined) {
          expect(r.peer, where).toBe(victim?.id)
          expect(r.start, where).toBeLessThanOrEqual(diedBy)
        }
      }
      // No two runs of one job overlap (a run cut by the kill lasted until the kill at most).
      for (let k = 1; k < jobRuns.length; k++) {
        expect(jobRuns[k].start, where).toBeGreaterThanOrEqual(jobRuns[k - 1].end ?? killedAt)
      }
    }
    console.log(`${JOBS} jobs: launched in ${launchedMs} ms, all ended ${endedMs} ms after the first launch; ` +
      `new coordinator ${failoverMs} ms after the kill; attempts lost and re-run: ${JSON.stringify(Object.fromEntries(lost))}`)
  }, 90_000)
})
