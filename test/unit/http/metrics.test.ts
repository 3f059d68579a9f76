import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createGateway, createPeerMetrics, type Gateway, type MetricsSources, type StoreFigures } from '../../../src/http/index.js'
import type { ReplicationStats } from '../../../src/store/index.js'
import { createStore, type Store } from '../../../src/store/index.js'
import { outcomeLabel } from '../../../src/node-metrics.js'
import { noExtensions, stubCoordinator } from '../../helpers/gateway-stubs.js'
import { http } from '../../helpers/http.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

/** The value of the sample `name{labels}` (labels as printed, in order), or undefined. */
function sample (text: string, series: string): number | undefined {
  const line = text.split('\n').find(l => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const STORE: StoreFigures = { keys: 5, records: 7, bytes: 1234, diskFreeBytes: 1000, diskSizeBytes: 4000, acceptingWrites: true }

function replication (n: number): ReplicationStats {
  return { underReplicated: n, repairRounds: n, antiEntropy: { keys: n, bytes: 10 * n }, readRepair: { keys: 2 * n, bytes: 20 * n }, handedOff: n, hints: { pending: n, delivered: n, dropped: 0 }, reads: { alone: n, surveyed: n } }
}

describe('a peer\'s metrics', () => {
  it('shows every source\'s figures under their pmz_ names, read at scrape time', async () => {
    let rounds = 3
    let storeReads = 0
    const sources: MetricsSources = {
      store: async () => { storeReads++; return STORE },
      replication: () => replication(rounds),
      members: () => [{ state: 'alive' }, { state: 'alive' }, { state: 'suspect' }],
      raft: () => ({ term: 4, commitIndex: 17, isLeader: true, leaderChanges: 2 }),
      jobs: () => ({ queued: 3, running: 1 })
    }
    const m = createPeerMetrics(sources, { peerId: 'p1', version: '9.9.9', processMetrics: false })
    let text = await m.scrape()
    expect(sample(text, 'pmz_peer_info{peer="p1",version="9.9.9"}')).toBe(1)
    expect(sample(text, 'pmz_store_keys')).toBe(5)
    expect(sample(text, 'pmz_store_records')).toBe(7)
    expect(sample(text, 'pmz_store_bytes')).toBe(1234)
    expect(sample(text, 'pmz_store_disk_free_bytes')).toBe(1000)
    expect(sample(text, 'pmz_store_disk_used_bytes')).toBe(3000)
    expect(sample(text, 'pmz_store_accepting_writes')).toBe(1)
    expect(storeReads).toBe(1) // one read serves every store gauge of a scrape
    expect(sample(text, 'pmz_members{state="alive"}')).toBe(2)
    expect(sample(text, 'pmz_members{state="suspect"}')).toBe(1)
    expect(sample(text, 'pmz_members{state="dead"}')).toBe(0)
    expect(sample(text, 'pmz_raft_term')).toBe(4)
    expect(sample(text, 'pmz_raft_commit_index')).toBe(17)
    expect(sample(text, 'pmz_raft_is_leader')).toBe(1)
    expect(sample(text, 'pmz_raft_leader_changes_total')).toBe(2)
    expect(sample(text, 'pmz_jobs_queued')).toBe(3)
    expect(sample(text, 'pmz_jobs_running')).toBe(1)
    expect(sample(text, 'pmz_replication_repair_rounds_total')).toBe(3)
    expect(sample(text, 'pmz_replication_repaired_bytes_total{via="read_repair"}')).toBe(60)
    // Mirrored totals follow the component's count: a second scrape shows the new total, not a sum.
    rounds = 5
    text = await m.scrape()
    expect(sample(text, 'pmz_replication_repair_rounds_total')).toBe(5)
    expect(sample(text, 'pmz_replication_repaired_keys_total{via="anti_entropy"}')).toBe(5)
    expect(sample(text, 'pmz_replication_hints_pending')).toBe(5)
    expect(storeReads).toBe(2)
    expect(text).toContain('# TYPE pmz_replication_repaired_keys_total counter')
  })

  it('exports nothing for an absent source rather than a misleading 0', async () => {
    const text = await createPeerMetrics({}, { peerId: 'p', version: 'v', processMetrics: false }).scrape()
    for (const name of ['pmz_store_keys', 'pmz_raft_is_leader', 'pmz_jobs_queued', 'pmz_members', 'pmz_replication_hints_pending']) expect(text).not.toContain(name)
    expect(text).toContain('pmz_http_requests_total')
  })

  it('counts requests by method, route and status, and times them in seconds', async () => {
    const m = createPeerMetrics({}, { peerId: 'p', version: 'v', processMetrics: false })
    m.observeRequest('GET', '/get_key/*', 200, 0.0007)
    m.observeRequest('GET', '/get_key/*', 200, 0.003)
    m.observeRequest('GET', '/get_key/*', 404, 0.0004)
    const text = await m.scrape()
    expect(sample(text, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="200"}')).toBe(2)
    expect(sample(text, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="404"}')).toBe(1)
    expect(sample(text, 'pmz_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/get_key/*"}')).toBe(2)
    expect(sample(text, 'pmz_http_request_duration_seconds_count{method="GET",route="/get_key/*"}')).toBe(3)
    expect(sample(text, 'pmz_http_request_duration_seconds_sum{method="GET",route="/get_key/*"}')).toBeCloseTo(0.0041, 6)
  })

  it('counts job attempts by outcome (a timeout apart) with their run time', async () => {
    const m = createPeerMetrics({}, { peerId: 'p', version: 'v', processMetrics: false })
    m.observeJob(outcomeLabel({ state: 'ready' }), 0.2)
    m.observeJob(outcomeLabel({ state: 'failed', timedOut: true }), 30)
    m.observeJob(outcomeLabel({ state: 'failed' }), 1)
    const text = await m.scrape()
    expect(sample(text, 'pmz_jobs_finished_total{outcome="ready"}')).toBe(1)
    expect(sample(text, 'pmz_jobs_finished_total{outcome="timeout"}')).toBe(1)
    expect(sample(text, 'pmz_jobs_finished_total{outcome="failed"}')).toBe(1)
    expect(sample(text, 'pmz_job_run_duration_seconds_count')).toBe(3)
    expect(sample(text, 'pmz_job_run_duration_seconds_bucket{le="1"}')).toBe(2)
  })

  it('gives each peer a registry of its own, process metrics included (several peers in one process)', async () => {
    const a = createPeerMetrics({}, { peerId: 'a', version: 'v' })
    const b = createPeerMetrics({}, { peerId: 'b', version: 'v' })
    a.observeRequest('GET', '/x', 200, 0.001)
    const [ta, tb] = await Promise.all([a.scrape(), b.scrape()])
    expect(sample(ta, 'pmz_http_requests_total{method="GET",route="/x",status="200"}')).toBe(1)
    expect(tb).not.toContain('route="/x"')
    for (const t of [ta, tb]) {
      expect(t).toMatch(/^pmz_process_cpu_seconds_total \d/m)
      expect(t).toMatch(/^pmz_process_resident_memory_bytes \d/m)
      expect(t).toMatch(/^pmz_nodejs_eventloop_lag_seconds /m)
      // prom-client's gauges named *_total (promtool refuses them) are dropped; their per-type gauges stay.
      expect(t).not.toContain('pmz_nodejs_active_handles_total')
      expect(t).toContain('# TYPE pmz_nodejs_active_handles gauge')
    }
  })
})

const log = createLogger({ level: 'silent' })
const noCoordinator = stubCoordinator()

describe('GET /metrics on the gateway', () => {
  let store: Store | undefined
  let gateway: Gateway | undefined
  afterEach(async () => {
    await gateway?.stop()
    await store?.stop()
    await cleanupPeers()
  })

  async function start (token?: string): Promise<string> {
    store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    const metrics = createPeerMetrics({ store: async () => STORE }, { peerId: 'p1', version: 'test', processMetrics: false })
    gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator: noCoordinator, metrics, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0, ...(token !== undefined ? { token } : {}) })
    await gateway.start()
    return gateway.url()
  }

  it('answers plain Prometheus text, requests labelled by route pattern, never by URL', async () => {
    const url = await start()
    expect((await http('PUT', `${url}/add_key/m/one`, 'abc')).status).toBe(201)
    expect((await http('GET', `${url}/get_key/m/one`)).status).toBe(200)
    expect((await http('GET', `${url}/get_key/m/two`)).status).toBe(404)
    expect((await http('GET', `${url}/no/such/route/${Date.now()}`)).status).toBe(404)
    const res = await http('GET', `${url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body.toString()
    expect(text.startsWith('{')).toBe(false) // not in Pulzar's envelope
    expect(sample(text, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="200"}')).toBe(1)
    expect(sample(text, 'pmz_http_requests_total{method="GET",route="/get_key/*",status="404"}')).toBe(1)
    expect(sample(text, 'pmz_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1)
    expect(text).not.toContain('m/one')
    expect(text).not.toContain('no/such')
    expect(sample(text, 'pmz_store_keys')).toBe(5)
    expect((await http('POST', `${url}/metrics`)).status).toBe(405)
  })

  it('asks for the bearer token when one is configured', async () => {
    const url = await start('s3cret')
    expect((await http('GET', `${url}/metrics`)).status).toBe(401)
    const res = await http('GET', `${url}/metrics`, undefined, { authorization: 'Bearer s3cret' })
    expect(res.status).toBe(200)
    expect(res.body.toString()).toContain('pmz_store_keys 5')
  })
})
