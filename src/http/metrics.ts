import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { MemberState } from '../mesh/membership/index.js'
import type { ReplicationStats } from '../store/index.js'

/** The route label of a request no route matched (a 404): bounded, unlike the raw URL. */
export const UNMATCHED_ROUTE = 'unmatched'

/** Request durations, seconds: a gateway answer takes about a millisecond, a large upload seconds. */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Job run times, seconds: from a module's few milliseconds to the default hour-long timeout. */
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600]
const MEMBER_STATES: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']
/**
 * prom-client's default gauges whose names end in `_total`, which promtool
 * rejects for anything but a counter; each is the sum of a per-type gauge
 * that stays (`pmz_nodejs_active_handles{type=...}` and so on).
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

/** The local store, as one scrape reads it. */
export interface StoreFigures {
  /** Live keys held here. */
  keys: number
  /** Records held here, tombstones and expired values included. */
  records: number
  /** Value bytes held here (kept up to date by every write, see PartitionView.heldBytes). */
  bytes: number
  /** Bytes of the data disk an unprivileged writer may still use. */
  diskFreeBytes: number
  /** Size of the data disk, bytes. */
  diskSizeBytes: number
  /** False while free space is below `[store] min_free_mb`. */
  acceptingWrites: boolean
}

/** The coordinator replica of this peer (coordinator role only). */
export interface RaftFigures {
  term: number
  commitIndex: number
  isLeader: boolean
  /** Leaders learned of since start, one per term that had one. */
  leaderChanges: number
}

/**
 * What a peer's metrics read when scraped, never on the request path. Each
 * source is optional: a metric whose source is absent (a peer without the
 * role, a store that is not distributed) is not exported at all rather than
 * exported as a misleading 0.
 */
export interface MetricsSources {
  store?: () => Promise<StoreFigures>
  replication?: () => ReplicationStats
  /** Every member this peer knows, itself included. */
  members?: () => ReadonlyArray<{ state: MemberState }>
  raft?: () => RaftFigures
  /** Jobs waiting (queued or retrying) and live (assigned, running or cancelling), as this peer's replica of the job table holds them. */
  jobs?: () => { queued: number, running: number }
}

/** How a job attempt ended, as `pmz_jobs_finished_total` labels it. */
export type JobOutcomeLabel = 'ready' | 'failed' | 'timeout' | 'cancelled'

/** One peer's metrics: a registry of its own (several peers may share a process in tests). */
export interface PeerMetrics {
  /** The `content-type` of `scrape()`'s text. */
  readonly contentType: string
  /** Every metric in the Prometheus text format, the sources read now. */
  scrape(): Promise<string>
  /** One answered request: `route` is the route's pattern (or UNMATCHED_ROUTE), never the raw URL. */
  observeRequest(method: string, route: string, status: number, seconds: number): void
  /** One job attempt this peer's worker ran, and how long it took. */
  observeJob(outcome: JobOutcomeLabel, seconds: number): void
}

export interface PeerMetricsInit {
  peerId: string
  version: string
  /** Process metrics (CPU, memory, event-loop lag, GC) with the `pmz_` prefix. @default true */
  processMetrics?: boolean
}

export function createPeerMetrics (sources: MetricsSources, init: PeerMetricsInit): PeerMetrics {
  return new PromPeerMetrics(sources, init)
}

/** One method, route and status: its label objects, built once, and its request count. */
interface RequestSeries {
  counted: { method: string, route: string, status: string }
  timed: { method: string, route: string }
  count: number
}

/** PeerMetrics on prom-client: every definition in one place. */
class PromPeerMetrics implements PeerMetrics {
  readonly contentType: string
  private readonly registry = new Registry()
  private readonly durations: Histogram<'method' | 'route'>
  private readonly jobsFinished: Counter<'outcome'>
  private readonly jobDurations: Histogram
  /**
   * Per method, route and status: the request hook allocates nothing after
   * the first request of each, and counts with a plain increment (the
   * counter reads the counts at scrape time; prom-client's inc hashes its
   * labels on every call, which is most of what the hook would cost).
   */
  private readonly series = new Map<string, RequestSeries>()
  /** This scrape's store figures, read once for the gauges that show them. */
  private storeRead: Promise<StoreFigures> | undefined

  constructor (sources: MetricsSources, init: PeerMetricsInit) {
    const registers = [this.registry]
    this.contentType = this.registry.contentType
    if (init.processMetrics ?? true) {
      // Event-loop lag sampled every 100 ms rather than prom-client's 10: each sample wakes an idle peer.
      collectDefaultMetrics({ register: this.registry, prefix: 'pmz_', eventLoopMonitoringPrecision: 100 })
      for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(`pmz_${name}`)
    }
    new Gauge({ name: 'pmz_peer_info', help: 'Always 1; the peer id and pmz version as labels.', labelNames: ['peer', 'version'], registers })
      .set({ peer: init.peerId, version: init.version }, 1)
    const series = this.series
    new Counter({
      name: 'pmz_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
      collect () {
        this.reset()
        for (const r of series.values()) this.inc(r.counted, r.count)
      }
    })
    this.durations = new Histogram({ name: 'pmz_http_request_duration_seconds', help: 'Time from the request to the end of its answer, by method and route pattern.', labelNames: ['method', 'route'], buckets: HTTP_BUCKETS, registers })
    this.jobsFinished = new Counter({ name: 'pmz_jobs_finished_total', help: 'Job attempts this peer ran to their end, by outcome (ready, failed, timeout, cancelled).', labelNames: ['outcome'], registers })
    this.jobDurations = new Histogram({ name: 'pmz_job_run_duration_seconds', help: 'Run time of the job attempts this peer ran (a wait for a free slot included).', buckets: JOB_BUCKETS, registers })
    this.defineStore(sources.store)
    this.defineReplication(sources.replication)
    this.defineMembers(sources.members)
    this.defineRaft(sources.raft)
    this.defineJobs(sources.jobs)
  }

  async scrape (): Promise<string> {
    this.storeRead = undefined
    try {
      return await this.registry.metrics()
    } finally {
      this.storeRead = undefined
    }
  }

  observeRequest (method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`
    let s = this.series.get(key)
    if (s === undefined) {
      s = { counted: { method, route, status: String(status) }, timed: { method, route }, count: 0 }
      this.series.set(key, s)
    }
    s.count++
    this.durations.observe(s.timed, seconds)
  }

  observeJob (outcome: JobOutcomeLabel, seconds: number): void {
    this.jobsFinished.inc({ outcome })
    this.jobDurations.observe(seconds)
  }

  private defineStore (read: MetricsSources['store']): void {
    if (read === undefined) return
    const figures = async (): Promise<StoreFigures> => await (this.storeRead ??= read())
    const gauge = (name: string, help: string, pick: (f: StoreFigures) => number): void => {
      new Gauge({ name, help, registers: [this.registry], async collect () { this.set(pick(await figures())) } })
    }
    gauge('pmz_store_keys', 'Live keys held by this peer.', f => f.keys)
    gauge('pmz_store_records', 'Records held by this peer, tombstones and expired values included.', f => f.records)
    gauge('pmz_store_bytes', 'Value bytes held by this peer (counted by a walk over the records, at most once a minute).', f => f.bytes)
    gauge('pmz_store_disk_free_bytes', 'Bytes of the data disk an unprivileged writer may still use.', f => f.diskFreeBytes)
    gauge('pmz_store_disk_used_bytes', 'Bytes of the data disk not free (its size minus pmz_store_disk_free_bytes).', f => Math.max(0, f.diskSizeBytes - f.diskFreeBytes))
    gauge('pmz_store_accepting_writes', '1 while the data disk has more free space than [store] min_free_mb, else 0 (new values get 507).', f => f.acceptingWrites ? 1 : 0)
  }

  private defineReplication (read: MetricsSources['replication']): void {
    if (read === undefined) return
    this.gauge('pmz_replication_under_replicated_keys', 'Keys held here not yet confirmed at N copies, as anti-entropy last counted.', () => read().underReplicated)
    this.gauge('pmz_replication_hints_pending', 'Hinted-handoff hints waiting for their replica.', () => read().hints.pending)
    this.counter('pmz_replication_hints_delivered_total', 'Hints delivered to the replica that missed a write.', () => [[{}, read().hints.delivered]])
    this.counter('pmz_replication_hints_dropped_total', 'Hints dropped (too old, over the cap, or nothing left to deliver).', () => [[{}, read().hints.dropped]])
    this.counter('pmz_replication_repair_rounds_total', 'Anti-entropy rounds run.', () => [[{}, read().repairRounds]])
    this.counter('pmz_replication_repaired_keys_total', 'Records repaired on stale replicas, by mechanism (anti_entropy, read_repair).', () => {
      const s = read()
      return [[{ via: 'anti_entropy' }, s.antiEntropy.keys], [{ via: 'read_repair' }, s.readRepair.keys]]
    }, ['via'])
    this.counter('pmz_replication_repaired_bytes_total', 'Value bytes of those records, by mechanism.', () => {
      const s = read()
      return [[{ via: 'anti_entropy' }, s.antiEntropy.bytes], [{ via: 'read_repair' }, s.readRepair.bytes]]
    }, ['via'])
    this.counter('pmz_replication_reads_total', 'Reads through this peer, by how they were answered (alone: its own copy under a read lease; survey: the replicas asked).', () => {
      const s = read()
      return [[{ answered: 'alone' }, s.reads.alone], [{ answered: 'survey' }, s.reads.surveyed]]
    }, ['answered'])
    this.counter('pmz_replication_handed_off_keys_total', 'Records handed to their new owners after a ring change.', () => [[{}, read().handedOff]])
  }

  private defineMembers (read: MetricsSources['members']): void {
    if (read === undefined) return
    new Gauge({
      name: 'pmz_members',
      help: 'Members this peer knows (itself included), by SWIM state.',
      labelNames: ['state'],
      registers: [this.registry],
      collect () {
        const counts = new Map<MemberState, number>(MEMBER_STATES.map(s => [s, 0]))
        for (const m of read()) counts.set(m.state, (counts.get(m.state) ?? 0) + 1)
        for (const [state, n] of counts) this.set({ state }, n)
      }
    })
  }

  private defineRaft (read: MetricsSources['raft']): void {
    if (read === undefined) return
    this.gauge('pmz_raft_term', 'Current Raft term of this coordinator replica.', () => read().term)
    this.gauge('pmz_raft_commit_index', 'Highest log index known committed.', () => read().commitIndex)
    this.gauge('pmz_raft_is_leader', '1 while this peer is the elected coordinator, else 0.', () => read().isLeader ? 1 : 0)
    this.counter('pmz_raft_leader_changes_total', 'Leaders this peer learned of since it started, one per term that had one: failovers are its increase.', () => [[{}, read().leaderChanges]])
  }

  private defineJobs (read: MetricsSources['jobs']): void {
    if (read === undefined) return
    this.gauge('pmz_jobs_queued', 'Jobs waiting for a worker (queued or retrying), in this replica of the job table.', () => read().queued)
    this.gauge('pmz_jobs_running', 'Jobs with a live attempt (assigned, running or cancelling), in this replica of the job table.', () => read().running)
  }

  private gauge (name: string, help: string, value: () => number): void {
    new Gauge({ name, help, registers: [this.registry], collect () { this.set(value()) } })
  }

  /**
   * A counter mirroring totals a component keeps (it only ever grows while
   * the peer runs): set at collect time, so nothing is counted twice and the
   * component needs no prom-client.
   */
  private counter (name: string, help: string, values: () => Array<[Record<string, string>, number]>, labelNames: string[] = []): void {
    new Counter({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect () {
        this.reset()
        for (const [labels, n] of values()) this.inc(labels, n)
      }
    })
  }
}
