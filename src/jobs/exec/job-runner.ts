import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { dirname, join, resolve } from 'node:path'
import { PmzError } from '../../common/errors.js'
import { jobEnv, type AbortCause, type AttemptContext, type RawResult } from './attempt.js'
import { HEARTBEAT_MS, IDLE_CHILD_MS, KILL_GRACE_MS, MAX_JOBS_PER_CHILD, MEMORY_MB, PYTHON, SPAWN_DELAY_MS, TIMEOUT_MS } from './constants.js'
import { runExecutable } from './executable.js'
import type { AttemptEvents, AttemptOutcome, AttemptSpec, JobRunner, JobRunnerComponents, JobRunnerInit } from './types.js'
import { LogBuffer } from './log-buffer.js'
import { ModulePool } from './module-pool.js'
import { pythonPaths, runPython, type PythonPaths } from './python.js'
import { Slots } from './slots.js'

/** The package root: three levels up from src/jobs/exec or dist/jobs/exec. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
/** The forkable child: always the compiled file (vitest runs this file from src/, which cannot be forked). */
const CHILD_SCRIPT = join(PACKAGE_ROOT, 'dist', 'jobs', 'exec', 'module-child.js')

/** A JobRunner of real child processes; see createJobRunner. */
export class ProcessJobRunner implements JobRunner {
  private readonly slots: Slots
  private readonly pool: ModulePool
  private readonly python: string
  private readonly pythonPaths: PythonPaths
  private readonly killGraceMs: number
  private readonly heartbeatMs: number
  private readonly timeoutMs: number
  private readonly env: NodeJS.ProcessEnv
  private readonly running = new Set<AbortController>()
  private readonly inflight = new Set<Promise<RawResult>>()
  private stopped: Promise<void> | undefined

  constructor (private readonly c: JobRunnerComponents, init: JobRunnerInit) {
    this.slots = new Slots(init.slots ?? availableParallelism())
    this.killGraceMs = init.killGraceMs ?? KILL_GRACE_MS
    this.heartbeatMs = init.heartbeatMs ?? HEARTBEAT_MS
    this.timeoutMs = init.timeoutMs ?? TIMEOUT_MS
    this.python = init.python ?? PYTHON
    this.pythonPaths = pythonPaths(PACKAGE_ROOT)
    // A plain copy: spreading process.env itself for every attempt reads every variable through the OS each time.
    this.env = { ...(init.env ?? process.env) }
    this.pool = new ModulePool({
      clock: c.clock,
      log: c.log,
      store: c.store,
      emit: c.emit,
      childScript: CHILD_SCRIPT,
      memoryMb: init.memoryMb ?? MEMORY_MB,
      maxJobsPerChild: init.maxJobsPerChild ?? MAX_JOBS_PER_CHILD,
      idleChildMs: init.idleChildMs ?? IDLE_CHILD_MS,
      spawnDelayMs: init.spawnDelayMs ?? SPAWN_DELAY_MS,
      env: this.env
    })
  }

  async run (spec: AttemptSpec, events: AttemptEvents, options: { signal?: AbortSignal } = {}): Promise<AttemptOutcome> {
    if (this.stopped !== undefined) throw new PmzError('ERR_SHUTTING_DOWN', 'the job runner is stopping')
    const clock = this.c.clock
    const started = clock.monotonic()
    const controller = new AbortController()
    const abort = (cause: AbortCause): void => { if (!controller.signal.aborted) controller.abort(cause) }
    const onCancel = (): void => abort('cancel')
    if (options.signal?.aborted === true) onCancel()
    options.signal?.addEventListener('abort', onCancel, { once: true })
    this.running.add(controller)
    const log = new LogBuffer()
    const call = (what: string, fn: () => void): void => {
      try { fn() } catch (err) { this.c.log.warn({ jobId: spec.jobId, err: (err as Error).message }, `${what} listener threw`) }
    }
    try {
      const slot = await this.slots.acquire(controller.signal)
      if (!slot) return this.outcome(spec, { ok: false, output: null }, 'cancel', log, started)
      const timeoutMs = spec.timeoutMs ?? this.timeoutMs
      const timeout = clock.setTimeout(() => abort('timeout'), timeoutMs)
      call('heartbeat', () => events.onHeartbeat())
      const heartbeat = clock.setInterval(() => call('heartbeat', () => events.onHeartbeat()), this.heartbeatMs)
      const ctx: AttemptContext = {
        spec,
        signal: controller.signal,
        killGraceMs: this.killGraceMs,
        clock,
        env: jobEnv(this.env, spec),
        log: (line, stream) => {
          const kept = log.push(line)
          call('log', () => events.onLog(kept, stream))
        },
        progress: (fraction, text) => {
          const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
          call('progress', () => events.onProgress(f, text))
        }
      }
      let raw: RawResult
      try {
        const executing = this.execute(ctx)
        this.inflight.add(executing)
        try {
          raw = await executing
        } finally {
          this.inflight.delete(executing)
        }
      } catch (err) {
        this.c.log.error({ jobId: spec.jobId, err }, 'job attempt failed inside the runner')
        raw = { ok: false, output: null, error: `internal error: ${(err as Error).message}` }
      } finally {
        timeout.cancel()
        heartbeat.cancel()
        this.slots.release()
      }
      const cause = controller.signal.aborted ? controller.signal.reason as AbortCause : undefined
      return this.outcome(spec, raw, cause, log, started, timeoutMs)
    } finally {
      options.signal?.removeEventListener('abort', onCancel)
      this.running.delete(controller)
    }
  }

  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      for (const c of this.running) c.abort('cancel')
      // Cancelled processes get SIGKILL after the grace at the latest.
      await Promise.allSettled([this.pool.stop(), ...this.inflight])
    })()
    await this.stopped
  }

  private async execute (ctx: AttemptContext): Promise<RawResult> {
    switch (ctx.spec.seed.kind) {
      case 'module':
        if (!existsSync(CHILD_SCRIPT)) return { ok: false, output: null, error: `${CHILD_SCRIPT} is missing: run npm run build` }
        return await this.pool.run(ctx)
      case 'executable': return await runExecutable(ctx)
      case 'python': return await runPython(ctx, this.python, this.pythonPaths)
      default: return { ok: false, output: null, error: `unknown seed kind ${String(ctx.spec.seed.kind)}` }
    }
  }

  private outcome (spec: AttemptSpec, raw: RawResult, cause: AbortCause | undefined, log: LogBuffer, started: number, timeoutMs?: number): AttemptOutcome {
    const base = { output: raw.output, log: log.snapshot(), durationMs: Math.round(this.c.clock.monotonic() - started), exitCode: raw.exitCode, signal: raw.signal }
    if (cause === 'cancel') return { ...base, ok: false, state: 'cancelled', error: 'cancelled' }
    if (cause === 'timeout') return { ...base, ok: false, state: 'failed', timedOut: true, error: `timed out after ${timeoutMs} ms` }
    this.c.log.debug({ jobId: spec.jobId, attempt: spec.attempt, ok: raw.ok, durationMs: base.durationMs }, 'job attempt ended')
    return raw.ok ? { ...base, ok: true, state: 'ready' } : { ...base, ok: false, state: 'failed', error: raw.error ?? 'failed' }
  }
}
