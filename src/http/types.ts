import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { PipelineService } from '../pipelines/types.js'
import type { Startable } from '../common/startable.js'
import type { Extensions } from '../extensions/index.js'
import type { Batch, BatchLimits, JobChange, JobView, ListOptions, Schedule, ScheduleSpec } from '../jobs/index.js'
import type { ClusterSeed } from '../seeds/index.js'
import type { Key, RingStatus, Store } from '../store/index.js'
import type { ClusterEvents } from './cluster-events/types.js'
import type { PeerMetrics } from './metrics.js'

/** One row of `admin/network`: Pulzar's fields (node, percent, load, synch) plus pmz's. */
export interface PeerView {
  /** Peer id. */
  node: string
  /** Percent of the disk holding the peer's data that is used, 0-100. */
  percent: number
  /** MiB free on the disk holding the peer's data (as last gossiped; null when the peer did not say). */
  free_mb: number | null
  /** False while its free space is below its `[store] min_free_mb`: it refuses new values (507). */
  accepting_writes: boolean
  /** 15-minute load average / CPU count x 100. */
  load: number
  /** Alive in the membership view. */
  synch: boolean
  roles: string[]
  state: 'alive' | 'suspect' | 'dead' | 'left'
  /** HTTP base URL of the peer's gateway. */
  http: string
  /** Mesh address, host:port. */
  mesh: string
  /** When this peer last heard from it (ISO time); null for itself. */
  last_heard: string | null
  /** Whether it is the elected coordinator, as far as this peer knows. */
  coordinator: boolean
  /**
   * Set for the volume peers on the ring: whether this peer's last
   * anti-entropy exchange with it, on the current ring, found every key they
   * share at the same version (always true for itself).
   */
  in_sync?: boolean
}

/**
 * The coordinator as the gateway sees it: the replicated cluster settings and
 * counters (the coordinator log's first state machine). On a peer without
 * the coordinator role (`local` false) only `leaderHttp` and `status` are
 * used: the gateway forwards the rest to the coordinator's gateway.
 */
export interface CoordinatorView {
  readonly local: boolean
  /** HTTP base URL of the elected coordinator's gateway, when one is known. */
  leaderHttp(): string | undefined
  /** Term, leader, voters, commit index... for `admin/coordinator`. */
  status(): Record<string, unknown>
  /** Every setting, after a read barrier (linearizable): the bytes of its JSON (older pmz stored parsed values). */
  settings(): Promise<Record<string, unknown>>
  /** Stores a setting; the gateway passes the bytes of its JSON body, checked, to be served back as they came. */
  setSetting(key: string, value: unknown): Promise<void>
  /** Whether the setting existed. */
  deleteSetting(key: string): Promise<boolean>
  /** A counter's value after a read barrier. */
  counter(name: string): Promise<number>
  /** Adds `by` to a counter; its new value. */
  increment(name: string, by: number): Promise<number>
}

/** What `admin/job_catalog` lists: the cluster catalog of seeds. */
export interface JobCatalogView {
  /** Every seed of the cluster's worker peers, by name order. */
  list(): ClusterSeed[]
}

/** What `admin/network` lists. */
export interface NetworkView { peers(): Promise<PeerView[]> }

/**
 * The placement ring as the gateway sees it (a distributed store's): where
 * get_node sends an upload, `admin/ring`, and the `in_sync` of
 * `admin/network`. Absent for a store that is not distributed.
 */
export interface RingView {
  /** The HTTP base URL of a peer holding a replica of `key`, when that is not this peer; undefined when this peer is one. */
  ownerUrl(key: Key): string | undefined
  /** The ring and the repair state as this peer sees them (admin/ring). */
  status(): Promise<RingStatus>
}

/** Facts about the peer serving the gateway. */
export interface PeerSelf {
  id: string
  version: string
  /** The peer holds keys (volume role); one that does not counts the volume peers' keys in admin/status. @default true */
  isVolume?: boolean
}

export interface Gateway extends Startable {
  /** The base URL once listening, e.g. `http://127.0.0.1:31414`. */
  url(): string
  /** The port actually bound (useful with port 0). */
  port(): number
}

export interface GatewayComponents {
  store: Store
  /** This peer's own copies (a backup reads a key here when it holds the version the cluster lists). */
  local?: Pick<Store, 'get'>
  network: NetworkView
  /** The placement ring of a distributed store; without it get_node names this peer, admin/ring answers 404 and admin/status counts only this peer's keys. */
  ring?: RingView
  extensions: Extensions
  coordinator: CoordinatorView
  /** The seeds catalog of `admin/job_catalog`; the route is absent without it. */
  catalog?: JobCatalogView
  /** The job table behind `launch_job`, `cancel_job` and `admin/jobs`; the routes are absent without it (or without `catalog`). */
  jobs?: JobsView
  /** The cluster event feed behind `GET /events`; the route is absent without it. */
  events?: ClusterEvents
  /** The pipelines behind `pipelines/*` and `admin/pipelines`; without it those routes answer 503. */
  pipelines?: PipelineService
  /** Serves `GET /metrics` and counts every request; both absent without it. */
  metrics?: PeerMetrics
  clock: Clock
  log: Logger
}

export interface GatewayInit {
  self: PeerSelf
  /** Address to bind. @default 0.0.0.0 */
  host?: string
  /** Host of the URL the gateway gives others (`url()`). @default host, or 127.0.0.1 for a wildcard bind */
  advertiseHost?: string
  /** Port; 0 picks a free one. @default 31414 */
  port?: number
  /** Largest accepted value, in MiB. @default 5 */
  maxsizeMb?: number
  /** Bearer token of write and admin requests (see `needsToken`); none when empty or absent. */
  token?: string
  /** How long stop() waits for in-flight requests before closing them. @default 10 s */
  stopGraceMs?: number
  /** How long an upload may send nothing before it is cut with 408, in ms. @default 30 s */
  bodyIdleTimeoutMs?: number
  /** Uploads one client address may have in progress at once; more get 429. @default 128 */
  maxUploadsPerClient?: number
  /** Where POST /admin/restore spools the archive it verifies before writing (the data disk). @default the system temp dir */
  spoolDir?: string
}

/** What a launch asks for (the route has checked the seed in the catalog). */
export interface LaunchRequest {
  seed: string
  /** The catalog's main content hash of the seed: only peers holding it run the job. */
  seedHash: string
  args: Record<string, unknown>
  /** 0-9. @default DEFAULT_PRIORITY */
  priority?: number
  /** A repeat with the same key within 24 h answers the first job. */
  dedupKey?: string
  /** Run time of one attempt, ms: the launch's `timeout_ms`, else the seed's `timeoutMs`. */
  timeoutMs?: number
  /** Failed attempts re-run: the launch's `retries`, else the seed's. */
  retries?: number
  /**
   * `pulzar_data` (pulzar-api.md §6.3), a valid key with its leading `/`:
   * the job runs on a replica of it. The launch fails with ERR_NOT_FOUND
   * when the key has no live value.
   */
  dataKey?: string
}

/** What a launch with `scheduled` asks for: the job every firing launches, and when it fires. */
export interface ScheduleRequest extends LaunchRequest {
  spec: ScheduleSpec
}

/** What `launch_batch` asks for (the route has checked the seed and the input): one task per key. */
export interface BatchRequest {
  seed: string
  seedHash: string
  /** Every task's args, plus its `key`. */
  args: Record<string, unknown>
  priority?: number
  /** Keys starting with this (with its leading `/`), listed in the background; or `keys`. */
  prefix?: string
  keys?: string[]
  limits: Partial<BatchLimits>
  /** Each ready task's output is stored under outputPrefix + key. */
  outputPrefix?: string
}

/** A batch and its tasks still in the table (in creation order), as one read saw them. */
export interface BatchRead { batch: Readonly<Batch>, tasks: readonly JobView[] }

/**
 * The job table as the gateway sees it. On a peer without the coordinator
 * role (`local` false) the gateway forwards job requests to the
 * coordinator's gateway instead of calling these.
 */
export interface JobsView {
  readonly local: boolean
  launch(req: LaunchRequest): Promise<{ jobId: number, deduped: boolean }>
  /** Records a schedule; its id comes from the job ids' sequence (so cancel_job names one thing). */
  schedule(req: ScheduleRequest): Promise<{ scheduleId: number, deduped: boolean }>
  /** A schedule, after a read barrier. */
  getSchedule(scheduleId: number): Promise<Readonly<Schedule> | undefined>
  /** Schedules, newest first, after a read barrier. */
  schedules(): Promise<ReadonlyArray<Readonly<Schedule>>>
  /** False when no such job exists; cancelling twice is fine. */
  cancel(jobId: number): Promise<boolean>
  /** Re-drives a failed job (fresh retry budgets); false when no such job exists, ERR_CONFLICT when it is not failed. */
  retry(jobId: number): Promise<boolean>
  /** After a read barrier. */
  get(jobId: number): Promise<JobView | undefined>
  /** Newest first, after a read barrier. */
  list(options?: ListOptions): Promise<JobView[]>
  /**
   * Calls `fn` with each change of the job as this peer's replica of the
   * table applies it, in log order (state, progress, relayed log lines);
   * returns the function that stops it.
   */
  follow(jobId: number, fn: (change: JobChange) => void): () => void
  /** Records a batch (issue 16); its id comes from the job ids' sequence. Answers before the keys are listed. */
  launchBatch(req: BatchRequest): Promise<{ batchId: number }>
  /** A batch and its tasks, after a read barrier. */
  getBatch(batchId: number): Promise<BatchRead | undefined>
  /** Every batch and its tasks, newest first, after a read barrier. */
  batches(): Promise<BatchRead[]>
  /** Calls `fn` after each applied command that may have changed the batch's tasks (throttle it); returns the function that stops it. */
  followBatch(batchId: number, fn: () => void): () => void
}
