import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Seed } from '../../seeds/index.js'
import type { SeedStore } from '../../store/index.js'
import type { AttemptLog } from './log-buffer.js'

/** The seed an attempt runs: what the catalog knows of a file. */
export type AttemptSeed = Pick<Seed, 'name' | 'path' | 'kind' | 'hash'>

/** One attempt of one job, as the coordinator assigned it to this peer. */
export interface AttemptSpec {
  jobId: number | string
  /** 1 for the first run, then one more per retry. */
  attempt: number
  seed: AttemptSeed
  /** The launch body (a JSON object for Pulzar scripts; any JSON value for modules and executables). */
  args: unknown
  /** A local file holding the job's `pulzar_data` key (pulzar-api.md §6.3). */
  dataFile?: string
  /** Longest the attempt may run, in ms; past it the process is killed and the attempt fails. @default 1 hour */
  timeoutMs?: number
  /** This peer's id (`ctx.peerId`). */
  peerId: string
  /** Pulzar's `_pulzar_config.scheduled`: the attempt is a schedule's firing. @default false */
  scheduled?: boolean
  /** The schedule that fired the job and the tick it fired for (ms since the epoch): `ctx.schedule`, `PMZ_SCHEDULE_ID` / `PMZ_FIRED_AT`. */
  schedule?: { scheduleId: number, firedAt: number }
}

/** Where a log line came from: a process's stdout/stderr, or a level of `ctx.log` / `pulzar_add_log` (info). */
export type LogStream = 'stdout' | 'stderr' | 'info' | 'warn' | 'error'

/** What a running attempt reports. A throwing callback is logged and otherwise ignored. */
export interface AttemptEvents {
  /** `fraction` in [0, 1]. */
  onProgress(fraction: number, text?: string): void
  /** Every log line, as it arrives (also when it is later dropped from the bounded log). */
  onLog(line: string, stream: LogStream): void
  /** At the start and then at least every `heartbeatMs` while the attempt runs. */
  onHeartbeat(): void
}

/** How an attempt ended: `ready` (ok), `failed` (error, crash, timeout) or `cancelled` (the caller's signal). */
export type AttemptState = 'ready' | 'failed' | 'cancelled'

export interface AttemptOutcome {
  ok: boolean
  state: AttemptState
  /** What the seed produced: a module's return value, an executable's stdout (JSON when it parses, else trimmed text), a Pulzar script's output lines joined with `\n`. */
  output: unknown
  /** Why it failed or was cancelled: one short line or the tail of stderr. */
  error?: string
  /** True when the attempt failed because it ran past its timeout. */
  timedOut?: boolean
  log: AttemptLog
  durationMs: number
  /** The process's exit code, when it exited (not for a module that returned in a warm child). */
  exitCode?: number
  /** The signal that ended the process, if one did. */
  signal?: string
}

/** What a job (or a stage) reaches through `ctx.store`: keys as the seed's code names them, checked on the way in. */
export type JobStore = SeedStore

/** Options of a job's `ctx.emit(tag, payload, options)`: those of a packet (issue 17). */
export interface JobEmitOptions {
  /** Packets of one key go to one instance of a stage, in order. */
  key?: string
  /** 0–9, higher first. @default 0 */
  priority?: number
  headers?: Record<string, string>
}

/**
 * Sends a packet a module job emitted into the pipelines; resolves with the
 * packet id once a consuming stage has it (waiting while the stages are
 * full). Rejects with a PmzError (ERR_NOT_FOUND: no stage consumes the tag;
 * ERR_BAD_REQUEST: bad tag or priority). The jobs layer takes it as a
 * callback: it may not import the pipelines.
 */
export type JobEmit = (tag: string, payload: unknown, options: JobEmitOptions) => Promise<string>

/** Runs job attempts on this peer in child processes. */
export interface JobRunner {
  /**
   * Runs one attempt to its end. Never rejects for what the seed does (a
   * throw, a crash, a timeout are outcomes); rejects with ERR_SHUTTING_DOWN
   * once `stop()` was called. Aborting `options.signal` cancels the attempt:
   * SIGTERM, then SIGKILL after `killGraceMs`; the outcome is `cancelled`.
   * Beyond `slots` running attempts, the call waits for a slot.
   */
  run(attempt: AttemptSpec, events: AttemptEvents, options?: { signal?: AbortSignal }): Promise<AttemptOutcome>
  /** Cancels running attempts, kills every child and resolves once they are gone. Idempotent. */
  stop(): Promise<void>
}

export interface JobRunnerComponents {
  clock: Clock
  log: Logger
  /** What `ctx.store` reaches; without it, `ctx.store` calls reject with ERR_UNAVAILABLE. */
  store?: JobStore
  /** What a module job's `ctx.emit` calls; without it, `ctx.emit` rejects with ERR_UNAVAILABLE. */
  emit?: JobEmit
}

export interface JobRunnerInit {
  /** Attempts running at once; more wait. @default the core count */
  slots?: number
  /** V8 heap limit of a module child (`--max-old-space-size`), in MiB. @default 512 */
  memoryMb?: number
  /** Time from SIGTERM to SIGKILL, in ms. @default 2000 */
  killGraceMs?: number
  /** Heartbeat period of a running attempt, in ms. @default 5000 */
  heartbeatMs?: number
  /** Timeout of an attempt whose spec has none, in ms. @default 1 hour */
  timeoutMs?: number
  /** Jobs a warm module child runs before it is replaced. @default 100 */
  maxJobsPerChild?: number
  /** How long an idle module child stays warm, in ms. @default 60000 */
  idleChildMs?: number
  /** How long a module job waits for a busy child of its seed to free before another is forked, in ms; 0 forks at once. @default 10 */
  spawnDelayMs?: number
  /** The Python interpreter. @default 'python3' */
  python?: string
  /** Extra environment for every child (PMZ_* job variables are set on top). @default process.env */
  env?: NodeJS.ProcessEnv
}

/** A job's `pulzar_data` value as a local file, for one attempt. */
export interface DataFile {
  path: string
  /** Removes the file (and whatever the job left beside it); never rejects. */
  release(): Promise<void>
}

/** Which attempt a data file or an output belongs to. */
export interface AttemptId { jobId: number, attempt: number }

/** What a worker does with the store around an attempt (see StoreJobData). */
export interface JobData {
  /**
   * The value of `key` as a new local file: copied from this peer's replica
   * when it holds the newest content, else fetched through the store.
   * ERR_NOT_FOUND when the key has no live value.
   */
  open(key: string, attempt: AttemptId): Promise<DataFile>
  /**
   * An output too big for the job table (over OUTPUT_INLINE_MAX_BYTES) goes
   * into the store: the answer has `output: null` and its `outputKey`. A
   * smaller one comes back as it is.
   */
  keepOutput(output: unknown, attempt: AttemptId): Promise<{ output: unknown, outputKey?: string }>
  /** Stores an output under `key` (a batch's `outputPrefix`): a string as UTF-8 text, anything else as JSON. */
  storeOutput?(key: string, output: unknown): Promise<void>
}
