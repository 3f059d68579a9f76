import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PmzError } from '../../common/errors.js'
import type { StageInstance } from '../types.js'
import { DEFAULT_ISOLATION, EXEC_KILL_GRACE_MS, SETUP_TIMEOUT_MS, STAGE_MEMORY_MB, STOP_TIMEOUT_MS } from './constants.js'
import { ExecutableStageInstance } from './executable-instance.js'
import type { InstanceOptions } from './instance-options.js'
import type { InstanceHostComponents, InstanceHostInit, StageProcessHost } from './types.js'
import { startModuleInstance } from './module-instance.js'

/** The package root: three levels up from src/pipelines/exec or dist/pipelines/exec. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
/** The forkable child and the worker script: always the compiled files (vitest runs this file from src/, which cannot be forked). */
const CHILD_SCRIPT = join(PACKAGE_ROOT, 'dist', 'pipelines', 'exec', 'stage-child.js')
const THREAD_SCRIPT = join(PACKAGE_ROOT, 'dist', 'pipelines', 'exec', 'stage-thread.js')

/** Stage instances as worker threads and child processes; see createInstanceHost. */
export class ProcessInstanceHost implements StageProcessHost {
  private readonly live = new Set<StageInstance>()
  private stopping: Promise<void> | undefined
  private readonly env: NodeJS.ProcessEnv

  constructor (private readonly c: InstanceHostComponents, private readonly init: InstanceHostInit) {
    // A plain copy: spreading process.env itself for every instance reads every variable through the OS each time.
    this.env = { ...(init.env ?? process.env) }
  }

  async start (stage: string): Promise<StageInstance> {
    if (this.stopping !== undefined) throw new PmzError('ERR_SHUTTING_DOWN', 'the stage host is stopping')
    const seed = this.c.seedOf(stage)
    if (seed === undefined) throw new PmzError('ERR_NOT_FOUND', `this peer holds no stage seed ${stage}`)
    const log = this.c.log
    const options: InstanceOptions = {
      seed,
      peerId: this.init.peerId,
      clock: this.c.clock,
      log,
      store: this.c.store,
      isolation: seed.pipeline.isolation ?? this.init.isolation ?? DEFAULT_ISOLATION,
      childScript: this.init.childScript ?? CHILD_SCRIPT,
      threadScript: this.init.threadScript ?? THREAD_SCRIPT,
      memoryMb: this.init.memoryMb ?? STAGE_MEMORY_MB,
      setupTimeoutMs: this.init.setupTimeoutMs ?? SETUP_TIMEOUT_MS,
      stopTimeoutMs: this.init.stopTimeoutMs ?? STOP_TIMEOUT_MS,
      killGraceMs: this.init.killGraceMs ?? EXEC_KILL_GRACE_MS,
      env: this.env,
      onLog: (line, stream) => {
        if (this.c.onLog !== undefined) this.c.onLog(stage, line, stream)
        else log.debug({ stage, stream, line }, 'stage output')
      }
    }
    if (seed.kind === 'python') throw new PmzError('ERR_BAD_REQUEST', `${stage} is a Pulzar script: it cannot be a pipeline stage`)
    if (seed.kind === 'executable') {
      const instance = new ExecutableStageInstance(options)
      this.track(instance)
      return instance
    }
    const instance = await startModuleInstance(options)
    this.track(instance)
    if (this.stopping !== undefined) await instance.stop('kill')
    return instance
  }

  /** Kills every instance (no cleanup) and resolves once their threads and processes are gone. Idempotent. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.live].map(async i => {
        try {
          await i.stop('kill')
        } catch (err) {
          this.c.log.warn({ err, stage: i.stage }, 'stopping a stage instance failed')
        }
      }))
      this.live.clear()
    })()
    return await this.stopping
  }

  /** Keeps `instance` until it is gone (its process ended, or it was stopped). */
  private track (instance: StageInstance & { closed: Promise<void> }): void {
    this.live.add(instance)
    void instance.closed.then(() => this.live.delete(instance))
  }
}
