import { fork, type ChildProcess } from 'node:child_process'
import { dirname } from 'node:path'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { AttemptContext, RawResult } from './attempt.js'
import { STDERR_TAIL_BYTES } from './constants.js'
import { answerEmitCall } from './emit-bridge.js'
import type { JobEmit, JobStore } from './types.js'
import { LineSplitter, TailBuffer } from './log-buffer.js'
import type { ChildMessage, ParentMessage } from './module-messages.js'
import { killGroup, killOnAbort, reapWithThisProcess } from './process-group.js'
import { answerStoreCall } from './store-bridge.js'

export interface ModulePoolOptions {
  clock: Clock
  log: Logger
  store?: JobStore
  /** What `ctx.emit` calls (the pipelines' inject). */
  emit?: JobEmit
  /** The compiled module-child.js. */
  childScript: string
  memoryMb: number
  maxJobsPerChild: number
  idleChildMs: number
  /** How long a job waits for a busy child of its seed to free before another is forked, ms. */
  spawnDelayMs: number
  env: NodeJS.ProcessEnv
}

interface Run { id: number, ctx: AttemptContext, tail: TailBuffer, done(r: RawResult): void }

/** A job waiting for a busy child of its seed version (or, after spawnDelayMs, a new one). */
interface Waiter { path: string, hash: string, take(child: Child): void }

/** One forked child, bound to one version (path and hash) of one seed. */
interface Child {
  proc: ChildProcess
  path: string
  hash: string
  jobs: number
  run?: Run
  idleTimer?: Timer
  closed: Promise<void>
}

/**
 * Warm child processes for module seeds, per seed version: a child runs one
 * job at a time and is reused for the next job of the same path and hash,
 * until it has run `maxJobsPerChild` jobs, idled `idleChildMs`, or the seed
 * changed. A job that finds every child of its seed busy waits up to
 * `spawnDelayMs` for one to free before a new one is forked, so that a
 * burst of short jobs does not fork a child per job. A child that dies (crash, `process.exit`, out of memory, killed
 * on cancel or timeout) fails its job alone; the next job forks a new one.
 */
export class ModulePool {
  private readonly children = new Set<Child>()
  private readonly idle: Child[] = []
  private readonly waiting: Waiter[] = []
  /** The newest hash seen per seed path: idle children of older ones are retired. */
  private readonly latest = new Map<string, string>()
  private nextId = 1
  private stopping = false
  /** Monotonic time before which a waiter does not fork (fork pacing). */
  private nextSpawnAt = 0

  constructor (private readonly opts: ModulePoolOptions) {}

  run (ctx: AttemptContext): Promise<RawResult> {
    const { path, hash } = ctx.spec.seed
    if (this.latest.get(path) !== hash) {
      this.latest.set(path, hash)
      for (const c of this.idle.filter(c => c.path === path && c.hash !== hash)) this.retire(c)
    }
    // The most recently used child: work stays on few warm processes and the others idle out.
    const at = this.idle.findLastIndex(c => c.path === path && c.hash === hash)
    if (at !== -1) return this.start(this.idle.splice(at, 1)[0], ctx)
    const busy = [...this.children].some(c => c.path === path && c.hash === hash && c.run !== undefined)
    if (!busy || this.opts.spawnDelayMs <= 0) return this.start(this.spawn(path, hash), ctx)
    // A burst of short jobs is served by the children there are: a fork costs tens of ms of CPU.
    if (ctx.signal.aborted) return Promise.resolve({ ok: false, output: null, error: 'cancelled before it started' })
    return new Promise(resolve => {
      const waiter: Waiter = {
        path,
        hash,
        take: child => {
          timer.cancel()
          ctx.signal.removeEventListener('abort', onAbort)
          resolve(this.start(child, ctx))
        }
      }
      const leave = (): boolean => {
        const i = this.waiting.indexOf(waiter)
        if (i !== -1) this.waiting.splice(i, 1)
        return i !== -1
      }
      // Forks are paced: a fork blocks the event loop for its whole duration (tens of ms on a big
      // peer), so a burst of waiters forks one child at a time and the others may get a freed one.
      let timer: Timer
      const due = (): void => {
        const wait = this.nextSpawnAt - this.opts.clock.monotonic()
        if (wait > 0) timer = this.opts.clock.setTimeout(due, wait)
        else if (leave()) waiter.take(this.spawn(path, hash))
      }
      timer = this.opts.clock.setTimeout(due, this.opts.spawnDelayMs)
      const onAbort = (): void => {
        if (!leave()) return
        timer.cancel()
        resolve({ ok: false, output: null, error: 'cancelled before it started' })
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(waiter)
    })
  }

  /** Runs the job on `child`. */
  private start (child: Child, ctx: AttemptContext): Promise<RawResult> {
    const { path, hash } = ctx.spec.seed
    child.idleTimer?.cancel()
    return new Promise(resolve => {
      const id = this.nextId++
      const disarm = killOnAbort(child.proc, ctx.signal, ctx.clock, ctx.killGraceMs)
      child.run = {
        id,
        ctx,
        tail: new TailBuffer(STDERR_TAIL_BYTES),
        done: r => {
          disarm()
          child.run = undefined
          resolve(r)
        }
      }
      const spec = ctx.spec
      this.send(child, { type: 'run', id, path, hash, jobId: spec.jobId, attempt: spec.attempt, peerId: spec.peerId, args: spec.args ?? null, dataFile: spec.dataFile, schedule: spec.schedule })
    })
  }

  /** Kills every child and resolves once all are gone. */
  async stop (): Promise<void> {
    this.stopping = true
    for (const c of this.children) killGroup(c.proc, 'SIGKILL')
    await Promise.all([...this.children].map(c => c.closed))
  }

  private spawn (path: string, hash: string): Child {
    const started = this.opts.clock.monotonic()
    const proc = fork(this.opts.childScript, [], {
      execArgv: [`--max-old-space-size=${this.opts.memoryMb}`],
      serialization: 'advanced',
      silent: true,
      detached: true,
      cwd: dirname(path),
      env: this.opts.env
    })
    reapWithThisProcess(proc)
    // The next waiter forks after spawnDelayMs, or as long again as this fork blocked: at most half the loop forks.
    const ended = this.opts.clock.monotonic()
    this.nextSpawnAt = ended + Math.max(this.opts.spawnDelayMs, ended - started)
    let exit: { code: number | null, signal: string | null } = { code: null, signal: null }
    const child: Child = { proc, path, hash, jobs: 0, closed: new Promise(resolve => proc.once('close', () => resolve())) }
    this.children.add(child)
    const lines = (stream: 'stdout' | 'stderr'): LineSplitter => new LineSplitter(line => {
      if (child.run !== undefined) child.run.ctx.log(line, stream)
      else this.opts.log.debug({ seed: path, stream, line }, 'seed child output outside a job')
    })
    const out = lines('stdout')
    const err = lines('stderr')
    proc.stdout?.on('data', (chunk: Buffer) => out.write(chunk))
    proc.stderr?.on('data', (chunk: Buffer) => {
      err.write(chunk)
      child.run?.tail.write(chunk)
    })
    proc.on('message', (msg: ChildMessage) => this.onMessage(child, msg))
    proc.on('error', e => this.opts.log.debug({ seed: path, err: e.message }, 'seed child error'))
    proc.on('exit', (code, signal) => {
      exit = { code, signal }
      killGroup(proc, 'SIGKILL')
    })
    proc.on('close', () => {
      out.end()
      err.end()
      this.children.delete(child)
      child.idleTimer?.cancel()
      const i = this.idle.indexOf(child)
      if (i !== -1) this.idle.splice(i, 1)
      child.run?.done({ ok: false, output: null, error: this.crashReason(exit, child.run.tail.text()), exitCode: exit.code ?? undefined, signal: exit.signal ?? undefined })
    })
    return child
  }

  private crashReason (exit: { code: number | null, signal: string | null }, tail: string): string {
    if (/heap out of memory|Allocation failed/i.test(tail)) return `out of memory: the job went past the ${this.opts.memoryMb} MB heap limit`
    const how = exit.signal !== null ? `the job's process was killed by ${exit.signal}` : `the job's process exited with code ${exit.code ?? 'unknown'}`
    return tail === '' ? how : `${how}\n${tail}`
  }

  private onMessage (child: Child, msg: ChildMessage): void {
    const run = child.run
    if (run === undefined || msg.id !== run.id) return
    switch (msg.type) {
      case 'log': run.ctx.log(msg.text, msg.level); break
      case 'progress': run.ctx.progress(msg.fraction, msg.text); break
      case 'store':
        void answerStoreCall(this.opts.store, msg).then(reply => this.send(child, reply))
        break
      case 'emit':
        void answerEmitCall(this.opts.emit, msg).then(reply => this.send(child, reply))
        break
      case 'result':
        run.done(msg.ok ? { ok: true, output: msg.output } : { ok: false, output: null, error: msg.error })
        this.release(child, msg.ok ? false : msg.retire === true)
        break
    }
  }

  private release (child: Child, retire: boolean): void {
    child.jobs++
    if (retire || this.stopping || child.jobs >= this.opts.maxJobsPerChild || this.latest.get(child.path) !== child.hash || child.proc.exitCode !== null) {
      this.retire(child)
      return
    }
    const w = this.waiting.findIndex(x => x.path === child.path && x.hash === child.hash)
    if (w !== -1) {
      this.waiting.splice(w, 1)[0].take(child)
      return
    }
    this.idle.push(child)
    child.idleTimer = this.opts.clock.setTimeout(() => this.retire(child), this.opts.idleChildMs)
  }

  private retire (child: Child): void {
    const i = this.idle.indexOf(child)
    if (i !== -1) this.idle.splice(i, 1)
    child.idleTimer?.cancel()
    killGroup(child.proc, 'SIGKILL')
  }

  private send (child: Child, msg: ParentMessage): void {
    try {
      child.proc.send(msg)
    } catch (err) {
      // The child is dying; its close event fails the run.
      this.opts.log.debug({ seed: child.path, err: (err as Error).message }, 'seed child unreachable')
    }
  }
}
