import type { Timer } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import { answerStoreCall } from '../../jobs/exec/store-bridge.js'
import type { Packet, RunOutcome, StageInstance } from '../types.js'
import { compactCalls, expandReply } from './call-columns.js'
import { IPC_BATCH_MAX } from './constants.js'
import { processEndpoint, threadEndpoint, type StageEndpoint } from './endpoints.js'
import type { InstanceOptions } from './instance-options.js'
import { asBuffer } from './payloads.js'
import type { ChildMessage, Emitted, ParentMessage } from './stage-messages.js'

type Reply = Extract<ChildMessage, { type: 'result' | 'pulled' }>
type PullResult = Awaited<ReturnType<NonNullable<StageInstance['pull']>>>

/** Payloads as Buffers again (structured clone delivers plain Uint8Arrays). */
function received (items: Emitted[]): Emitted[] {
  for (const item of items) item.payload = asBuffer(item.payload)
  return items
}

/**
 * A module stage in a long-lived worker thread or child process
 * (endpoints.ts, stage-runtime.ts): started and set up by
 * {@link startModuleInstance}, then runs, events and pulls as messages. One
 * that dies fails the calls under way and, unless it was asked to stop,
 * tells `onExit`.
 */
class ModuleStageInstance implements StageInstance {
  readonly stage: string
  /** Settles once the thread or process is gone and its output was read. */
  readonly closed: Promise<void>
  private readonly endpoint: StageEndpoint
  /** Calls under way: settled with the child's reply, or why there is none. */
  private readonly calls = new Map<number, (reply: Reply | string) => void>()
  private readonly exitFns = new Set<(reason: string) => void>()
  private nextId = 1
  private isReady = false
  private setupError: string | undefined
  private exitReason: string | undefined
  private stopping: 'drain' | 'kill' | undefined
  private stopTimer: Timer | undefined
  /** Messages of this turn not sent yet: calls wait for the end of the turn, to cross as one batch. */
  private outgoing: ParentMessage[] = []
  private flushQueued = false
  private readonly readiness: { promise: Promise<void>, resolve(): void, reject(e: Error): void }

  constructor (private readonly o: InstanceOptions) {
    this.stage = o.seed.name
    let resolve!: () => void
    let reject!: (e: Error) => void
    this.readiness = { promise: new Promise<void>((res, rej) => { resolve = res; reject = rej }), resolve: () => resolve(), reject: e => reject(e) }
    const open = o.isolation === 'process' ? processEndpoint : threadEndpoint
    this.endpoint = open(o, msg => this.onMessage(msg))
    this.closed = this.endpoint.closed.then(reason => this.onClose(reason))
    const setupTimer = o.clock.setTimeout(() => {
      this.setupError = `setup took longer than ${o.setupTimeoutMs} ms`
      this.endpoint.kill()
    }, o.setupTimeoutMs)
    void this.readiness.promise.finally(() => setupTimer.cancel()).catch(() => {})
    this.send({ type: 'setup', path: o.seed.path, hash: o.seed.hash, stage: o.seed.name, peerId: o.peerId, produces: o.seed.pipeline.produces })
  }

  /** Resolves once `setup` is done; rejects (ERR_UNAVAILABLE) when loading or setup threw, or the child died first. */
  get ready (): Promise<void> { return this.readiness.promise }

  async run (packet: Packet): Promise<RunOutcome> {
    const reply = await this.call({ type: 'run', id: 0, packet })
    if (typeof reply === 'string' || reply.type !== 'result') return { ok: false, emitted: [], error: typeof reply === 'string' ? reply : 'unexpected reply' }
    return { ok: reply.ok, emitted: received(reply.emitted), ...(reply.error !== undefined ? { error: reply.error } : {}) }
  }

  async event (name: string, args: unknown): Promise<RunOutcome> {
    const reply = await this.call({ type: 'event', id: 0, name, args })
    if (typeof reply === 'string' || reply.type !== 'result') return { ok: false, emitted: [], error: typeof reply === 'string' ? reply : 'unexpected reply' }
    return { ok: reply.ok, emitted: received(reply.emitted), ...(reply.error !== undefined ? { error: reply.error } : {}) }
  }

  /** Never rejects: a child that died ends the source (`done`, with the reason as `error`); `onExit` says so too. */
  async pull (max: number): Promise<PullResult> {
    const reply = await this.call({ type: 'pull', id: 0, max: Math.max(1, Math.floor(max)) })
    if (typeof reply === 'string' || reply.type !== 'pulled') return { items: [], done: true, error: typeof reply === 'string' ? reply : 'unexpected reply' }
    return { items: received(reply.items), done: reply.done, ...(reply.error !== undefined ? { error: reply.error } : {}) }
  }

  async stop (how: 'drain' | 'kill'): Promise<void> {
    if (this.exitReason !== undefined) return
    if (how === 'kill') {
      this.stopping = 'kill'
      this.endpoint.kill()
    } else if (this.stopping === undefined) {
      this.stopping = 'drain'
      this.send({ type: 'stop' })
      this.stopTimer = this.o.clock.setTimeout(() => {
        this.o.log.warn({ stage: this.stage, timeoutMs: this.o.stopTimeoutMs }, 'stage instance did not drain in time; killed')
        this.endpoint.kill()
      }, this.o.stopTimeoutMs)
    }
    await this.closed
  }

  onExit (fn: (reason: string) => void): void {
    this.exitFns.add(fn)
  }

  /** Sends a call; resolves with its reply, or with why there is none (the child died, is stopping, refused the message). */
  private call (msg: Extract<ParentMessage, { id: number }>): Promise<Reply | string> {
    if (this.exitReason !== undefined || this.stopping !== undefined) return Promise.resolve(this.gone())
    return new Promise(resolve => {
      const id = this.nextId++
      this.calls.set(id, resolve)
      this.send({ ...msg, id })
    })
  }

  private gone (): string {
    if (this.stopping === 'kill') return 'the stage instance was killed'
    if (this.stopping === 'drain') return 'the stage instance is stopping'
    return this.exitReason ?? 'the stage instance has ended'
  }

  private onMessage (msg: ChildMessage): void {
    switch (msg.type) {
      case 'batch':
        for (const m of msg.msgs) this.onMessage(m)
        break
      case 'results':
        for (const m of expandReply(msg)) this.onMessage(m)
        break
      case 'ready':
        this.isReady = true
        this.readiness.resolve()
        break
      case 'setup-failed': this.setupError = msg.error; break
      case 'log': this.o.onLog(msg.text, msg.level); break
      case 'store':
        void answerStoreCall(this.o.store, msg).then(reply => this.send(reply as ParentMessage))
        break
      case 'result':
      case 'pulled': {
        if (msg.type === 'pulled' && msg.cols !== undefined) { for (const m of expandReply(msg)) this.onMessage(m); break }
        const done = this.calls.get(msg.id)
        this.calls.delete(msg.id)
        done?.(msg)
        break
      }
    }
  }

  private onClose (reason: string): void {
    this.stopTimer?.cancel()
    this.exitReason = reason
    for (const [id, done] of this.calls) {
      this.calls.delete(id)
      done(this.gone())
    }
    if (!this.isReady) {
      this.readiness.reject(new PmzError('ERR_UNAVAILABLE', `stage ${this.stage} could not start: ${this.setupError ?? reason}`))
      return
    }
    if (this.stopping !== undefined) return
    this.o.log.debug({ stage: this.stage, reason }, 'stage instance ended')
    for (const fn of this.exitFns) {
      try {
        fn(reason)
      } catch (err) {
        this.o.log.error({ err, stage: this.stage }, 'stage onExit listener failed')
      }
    }
  }

  /** Calls go at the end of the turn with the others of the turn; anything else goes at once, after them (order kept). */
  private send (msg: ParentMessage): void {
    this.outgoing.push(msg)
    const isCall = msg.type === 'run' || msg.type === 'event' || msg.type === 'pull'
    if (!isCall || this.outgoing.length >= IPC_BATCH_MAX) this.flush()
    else if (!this.flushQueued) {
      this.flushQueued = true
      setImmediate(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.flushQueued = false
    const msgs = this.outgoing
    if (msgs.length === 0) return
    this.outgoing = []
    const compact = compactCalls(msgs)
    if (compact.length === 1 && compact[0].type !== 'runs') { this.sendNow(compact[0]); return }
    try {
      this.endpoint.post(compact.length === 1 ? compact[0] : { type: 'batch', msgs: compact })
    } catch {
      // One of them cannot cross (or the child is dying): each alone, so that only its own call fails.
      for (const m of msgs) this.sendNow(m)
    }
  }

  private sendNow (msg: ParentMessage): void {
    try {
      this.endpoint.post(msg)
    } catch (err) {
      // The instance is dying (its close fails the calls), or a packet held something structured clone refuses.
      this.o.log.debug({ stage: this.stage, err: (err as Error).message }, 'stage child unreachable')
      if ('id' in msg && typeof msg.id === 'number') {
        const done = this.calls.get(msg.id)
        this.calls.delete(msg.id)
        done?.(`cannot send to the stage: ${(err as Error).message}`)
      }
    }
  }
}

/**
 * Starts a thread or a child for a module stage, loads the seed and runs its
 * `setup`; resolves once it is ready, rejects with ERR_UNAVAILABLE (the
 * reason: the setup's throw, a load error, a crash) once it is gone.
 */
export async function startModuleInstance (o: InstanceOptions): Promise<StageInstance & { closed: Promise<void> }> {
  const instance = new ModuleStageInstance(o)
  await instance.ready
  return instance
}
