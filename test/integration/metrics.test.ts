// GET /metrics on real peers (issue 18): a 3-peer cluster after PUTs, GETs, a
// 404 and a job; the text passes `promtool check metrics` and its values say
// what happened. Needs `npm run build` (bin/pmz runs dist/).
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, localEntries } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { catalogued, launch, settled } from '../helpers/jobs.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const HAS_PROMTOOL = spawnSync('promtool', ['--version']).error === undefined
if (!HAS_PROMTOOL) console.warn('metrics.test: promtool is not installed (apt-get install prometheus), skipping the `promtool check metrics` test')

const KEYS = 4

async function scrape (peer: Peer): Promise<string> {
  const res = await http('GET', `${peer.url}/metrics`)
  expect(res.status).toBe(200)
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return res.body.toString()
}

/** The value of one series (`name{labels}` as printed, labels in name order); 0 when absent. */
function value (text: string, series: string): number {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

async function sum (peers: Peer[], series: string): Promise<number> {
  return (await Promise.all(peers.map(scrape))).reduce((n, text) => n + value(text, series), 0)
}

describe('GET /metrics on a 3-peer cluster', () => {
  let peers: Peer[] = []
  let jobPeer = ''

  beforeAll(async () => {
    const seeds = tempDir('pmz-metrics-seeds-')
    mkdirSync(join(seeds, 'demo'))
    writeFileSync(join(seeds, 'demo/hello.mjs'), 'export default (args) => ({ hello: args.name })\n')
    const cluster = `metrics-${randomUUID().slice(0, 8)}`
    const a = await startPeer({ cluster, args: ['--seeds', seeds] })
    peers = [a, ...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: ['--seeds', seeds, '--join', a.mesh] })))]
    await converged(peers, peers.map(p => p.id), 10_000)
    const [, b] = peers
    for (let i = 0; i < KEYS; i++) expect((await http('PUT', `${a.url}/add_key/metrics/k${i}`, `value ${i}`)).status).toBe(201)
    for (let i = 0; i < 2; i++) expect((await http('GET', `${b.url}/get_key/metrics/k${i}`)).status).toBe(200)
    expect((await http('GET', `${b.url}/get_key/metrics/missing`)).status).toBe(404)
    await catalogued(a, 'demo/hello')
    const job = await settled(a, await launch(a, 'demo/hello', { name: 'm' }), 10_000)
    expect(job.state).toBe('ready')
    jobPeer = job.node ?? ''
  }, 14_000)

  afterAll(cleanupPeers)

  it('counts requests by route pattern and status, keys, members, the one leader and the job', async () => {
    const [a, b] = peers
    const ta = await scrape(a)
    expect(value(ta, 'pmz_http_requests_total{method="PUT",route="/add_key/*",status="201"}')).toBe(KEYS)
    expect(value(ta, 'pmz_http_requests_total{method="POST",route="/launch_job/*",status="200"}')).toBe(1)
    const tb = await scrape(b)
    expect(value(tb, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="200"}')).toBe(2)
    expect(value(tb, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="404"}')).toBe(1)
    expect(value(tb, 'pmz_http_request_duration_seconds_count{method="GET",route="/get_key/*"}')).toBe(3)
    expect(tb).not.toContain('metrics/k0') // the URL never becomes a label
    // N = 3 over 3 peers: every peer holds every key once the third copies landed (W = 2 acknowledged).
    await waitFor(async () => (await Promise.all(peers.map(localEntries))).every(n => n === KEYS), 5_000, 'every peer to hold every key')
    // c's first scrape: its byte count is walked now (then kept for a minute).
    const tc = await scrape(peers[2])
    expect(value(tc, 'pmz_store_keys')).toBe(KEYS)
    expect(value(tc, 'pmz_store_bytes')).toBe(KEYS * 'value 0'.length)
    for (const p of peers) {
      const t = await scrape(p)
      expect(value(t, 'pmz_members{state="alive"}'), p.id).toBe(3)
      expect(value(t, 'pmz_store_disk_free_bytes')).toBeGreaterThan(0)
      expect(value(t, 'pmz_raft_term')).toBeGreaterThan(0)
      expect(value(t, 'pmz_raft_leader_changes_total')).toBeGreaterThanOrEqual(1)
      expect(t).toMatch(/^pmz_process_resident_memory_bytes \d+/m)
    }
    const leaders = await Promise.all(peers.map(async p => value(await scrape(p), 'pmz_raft_is_leader')))
    expect(leaders.sort()).toEqual([0, 0, 1])
    // The attempt is counted by the peer that ran it, and only there.
    expect(await sum(peers, 'pmz_jobs_finished_total{outcome="ready"}')).toBe(1)
    const runner = peers.find(p => p.id === jobPeer)
    expect(runner, `job ran on ${jobPeer}`).toBeDefined()
    const tr = await scrape(runner!)
    expect(value(tr, 'pmz_jobs_finished_total{outcome="ready"}')).toBe(1)
    expect(value(tr, 'pmz_job_run_duration_seconds_count')).toBe(1)
    expect(value(tr, 'pmz_jobs_queued') + value(tr, 'pmz_jobs_running')).toBe(0)
  })

  it.skipIf(!HAS_PROMTOOL)('every peer\'s text passes promtool check metrics', async () => {
    for (const p of peers) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(p), encoding: 'utf8', timeout: 5_000 })
      expect(check.status, `${p.id}: ${check.stdout}${check.stderr}`).toBe(0)
    }
  })
})
