import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { JobStore, LogStream } from '../../jobs/exec/index.js'
import type { StageIsolation } from '../../seeds/index.js'
import type { InstanceHost } from '../types.js'
import type { StageSeed } from './instance-options.js'

/** An InstanceHost whose instances are threads and processes: stop() ends them all (the node's shutdown). */
export interface StageProcessHost extends InstanceHost {
  stop(): Promise<void>
}

export interface InstanceHostComponents {
  clock: Clock
  log: Logger
  /** What `ctx.store` reaches (as a job's ctx.store); without it, its calls reject with ERR_UNAVAILABLE. */
  store?: JobStore
  /**
   * This peer's copy of a stage's seed, or undefined when it holds none or
   * the seed is no stage. The node builds it from the local seeds catalog
   * (path, kind, hash) and the seed's `pipeline` declaration in the cluster
   * catalog.
   */
  seedOf(stage: string): StageSeed | undefined
  /** Where an instance's log lines go (ctx.log, console, stderr). @default debug lines on `log` */
  onLog?(stage: string, line: string, stream: LogStream): void
}

export interface InstanceHostInit {
  /** This peer's id (`ctx.peerId`, PMZ_PEER_ID). */
  peerId: string
  /**
   * Where module stages run when their seed does not say (`isolation`):
   * worker threads of this process, or child processes. @default 'thread'
   */
  isolation?: StageIsolation
  /** V8 heap limit of a module stage's thread or child, in MiB. @default 512 */
  memoryMb?: number
  /** Longest a module's load and `setup` may take, in ms. @default 60000 */
  setupTimeoutMs?: number
  /** Longest a drain (calls under way, then `cleanup`) may take before the child is killed, in ms. @default 10000 */
  stopTimeoutMs?: number
  /** Time from SIGTERM to SIGKILL of an executable stage's process on kill, in ms. @default 2000 */
  killGraceMs?: number
  /** The environment of every instance (PMZ_STAGE, PMZ_PEER_ID... set on top). @default process.env */
  env?: NodeJS.ProcessEnv
  /** The compiled child script. @default dist/pipelines/exec/stage-child.js */
  childScript?: string
  /** The compiled worker script. @default dist/pipelines/exec/stage-thread.js */
  threadScript?: string
}
