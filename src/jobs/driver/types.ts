import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Random } from '../../common/random.js'
import type { LeaderChangeEvent } from '../../coordinator/index.js'
import type { ClusterCatalog, SeedCatalog } from '../../seeds/index.js'
import type { JobData, JobRunner } from '../exec/index.js'
import type { JobTable } from '../table/index.js'
import type { JobCommand, JobResult } from '../table/types.js'

/** Wire version of the `jobs.*` mesh messages. */
export const JOBS_MESSAGE_VERSION = 1

/** Leader → worker: run attempt `attempt` of a job (refused when `term` is stale). */
export interface AssignMessage {
  type: 'jobs.assign'
  v: 1
  term: number
  jobId: number
  attempt: number
  seed: string
  seedHash: string
  args: unknown
  timeoutMs?: number
  /** The job's failed attempts so far and its retry budget: the worker draws the backoff of a failure (retry-rules.retryAt). */
  failures?: number
  retries?: number
  /** `pulzar_data`: the store key the attempt gets as a local file (pulzar-api.md §6.3). */
  dataKey?: string
  /** Set when a schedule fired the job: the schedule and the tick it fired for (ms since the epoch). */
  scheduleId?: number
  firedAt?: number
  /** A batch task's `outputPrefix` + key: where a ready attempt's output is stored too (issue 16). */
  storeOutputAs?: string
}
/** Leader → worker: abort the attempt's signal. */
export interface CancelMessage { type: 'jobs.cancel', v: 1, term: number, jobId: number, attempt: number }
export type JobsMessage = AssignMessage | CancelMessage

/**
 * The coordinator as the jobs layer uses it (the node's coordinator carries
 * other commands too; `node-jobs.ts` adapts it). `propose` forwards to the
 * leader from a follower.
 */
export interface JobsCoordinator {
  isLeader(): boolean
  term(): number
  propose(command: JobCommand): Promise<{ result: JobResult }>
  /** Read barrier: the local table reflects every write committed before the call. */
  read(): Promise<unknown>
  onLeaderChange(fn: (e: LeaderChangeEvent) => void): () => void
  /** Each job command applied, in log order, with what the table answered (undefined when it threw). */
  onApplied(fn: (command: JobCommand, result?: JobResult) => void): () => void
}

/** Requests between peers; the mesh transport fits it. */
export interface JobsMesh {
  request(to: string, msg: JobsMessage, options?: { timeoutMs?: number }): Promise<{ msg: unknown }>
  handle(type: string, handler: (req: { msg: unknown }) => unknown): () => void
}

/** A worker peer as membership says it. */
export interface WorkerPeer {
  peerId: string
  /** Mesh address. */
  address: string
  /** Attempts it runs at once (`jobSlots` in its member meta). */
  slots: number
  /** Load per core as gossiped. */
  load: number
}

/** Who the worker peers are; built from membership by the node. */
export interface WorkerDirectory {
  /** The alive (or suspect) worker peers. */
  workers(): WorkerPeer[]
  /** Whether membership counts the peer alive (suspect included). */
  isAlive(peerId: string): boolean
  /** Called on every membership change. */
  onChange(fn: () => void): () => void
}

/** Where a store key lives, for placement by data locality; the node builds it from the store's ring. */
export interface DataLocator {
  /** The peers that should hold `key` (its preference list on the ring), whether alive or not. */
  replicasOf(key: string): readonly string[]
}

export interface JobsDriverComponents {
  coordinator: JobsCoordinator
  table: JobTable
  catalog: Pick<ClusterCatalog, 'list' | 'on'>
  directory: WorkerDirectory
  mesh: Pick<JobsMesh, 'request'>
  /** The replicas of `pulzar_data` keys; without it a job with a data key stays queued. */
  data?: DataLocator
  clock: Clock
  random: Random
  log: Logger
}

export interface JobsDriverInit {
  /** Silence after which a live attempt is lost, ms. @default HEARTBEAT_TIMEOUT_MS */
  heartbeatTimeoutMs?: number
  /** Deadline of a `jobs.assign` request, ms. @default 5000 */
  assignTimeoutMs?: number
}

export interface JobsWorkerComponents {
  /** Where reports go (proposals forward to the leader). */
  coordinator: Pick<JobsCoordinator, 'propose'>
  local: Pick<SeedCatalog, 'get'>
  runner: JobRunner
  /** Data files and big outputs; without it an attempt with a data key fails and every output stays inline. */
  data?: JobData
  mesh: Pick<JobsMesh, 'handle'>
  clock: Clock
  /** Draws the jitter of retry backoffs. @default Math.random */
  random?: Random
  log: Logger
  peerId: string
  /** Runs the flush of the reports made in one turn (one log entry for them all). @default setImmediate */
  defer?: (fn: () => void) => void
  /**
   * Attempts this worker runs at once (its `[jobs] slots`): an attempt
   * assigned beyond them waits here for one before it reports `started`.
   * @default unbounded (the runner's own slots queue the runs)
   */
  slots?: number
}

export interface ScheduleDriverComponents {
  coordinator: Pick<JobsCoordinator, 'isLeader' | 'propose' | 'onApplied' | 'onLeaderChange'>
  table: JobTable
  /** Seeds' schedule declarations and current hashes. */
  catalog: Pick<ClusterCatalog, 'list' | 'on'>
  clock: Clock
  log: Logger
}
export interface HistoryPrunerComponents {
  coordinator: Pick<JobsCoordinator, 'isLeader' | 'propose' | 'onLeaderChange'>
  clock: Clock
  log: Logger
}

export interface HistoryPrunerInit {
  /** Days a final job is kept after it ended (`[general] retention_policy`); 0 keeps none past the next prune. */
  retentionDays: number
  /** Time between prunes while leading, ms. @default PRUNE_INTERVAL_MS (1 h) */
  intervalMs?: number
}

/** Keys of the store by prefix, sorted, a page at a time (the store's `list`). */
export interface KeyLister {
  list(options: { prefix: string, after?: string, limit: number }): Promise<string[]>
}

export interface BatchDriverComponents {
  coordinator: Pick<JobsCoordinator, 'isLeader' | 'propose' | 'onApplied' | 'onLeaderChange'>
  table: JobTable
  keys: KeyLister
  clock: Clock
  log: Logger
}

export interface BatchDriverInit {
  /** Keys listed per page. @default BATCH_PAGE_KEYS */
  pageKeys?: number
}
