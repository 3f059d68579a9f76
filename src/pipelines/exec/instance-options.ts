import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { JobStore, LogStream } from '../../jobs/exec/index.js'
import type { SeedKind, StageDecl, StageIsolation } from '../../seeds/index.js'

/** This peer's copy of a stage's seed: its file, the version loaded, and what it declares. */
export interface StageSeed {
  /** The seed's name: the stage's name. */
  name: string
  /** Absolute path of the file. */
  path: string
  kind: SeedKind
  /** Hex sha256 of its content (a changed file is a new module for the child's loader). */
  hash: string
  pipeline: StageDecl
}

/** What one instance is started with (the host's components and init, resolved). */
export interface InstanceOptions {
  seed: StageSeed
  peerId: string
  clock: Clock
  log: Logger
  store?: JobStore
  /** Where a module stage runs: a worker thread of the peer, or a child process. */
  isolation: StageIsolation
  /** The compiled stage-child.js (isolation 'process'). */
  childScript: string
  /** The compiled stage-thread.js (isolation 'thread'). */
  threadScript: string
  memoryMb: number
  setupTimeoutMs: number
  stopTimeoutMs: number
  killGraceMs: number
  env: NodeJS.ProcessEnv
  /** A line the instance logged (ctx.log, console, stderr; stdout too for modules). */
  onLog(line: string, stream: LogStream): void
}
