// One stage on one peer: its inbox, dedup window and instances. Packets are
// taken by priority (one per instance at a time, one per key), run, and their
// outputs handed to the outbox; the input is acked to its senders only once
// those outputs were acked downstream (or it went to the dead-letter list).
// A failing run is retried with backoff, then dead-lettered. Events move the
// state (stage-state.ts); kill nacks everything not yet done, so senders
// redeliver it: nothing is lost.
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Random } from '../common/random.js'
import { backoffMs } from '../jobs/index.js'
import { DEDUP_MAX_AGE_MS, DEDUP_MAX_IDS, RETRY_BASE_MS, RETRY_CAP_MS, RUN_AHEAD, SCALE_BACKLOG_PER_INSTANCE } from './constants.js'
import { DedupWindow } from './core/dedup-window.js'
import { Inbox, type InboxItem } from './core/inbox.js'
import type { DeliveryHandlers } from './core/outbox.js'
import { decideScale } from './core/scale-rules.js'
import { accepts, applyEvent, serves } from './core/stage-state.js'
import { childId } from './packets.js'
import { Instances, type Slot } from './instances.js'
import { DEFAULT_IDLE_MS, DEFAULT_INBOX, DEFAULT_STAGE_RETRIES, type InstanceHost, type LifecycleEvent, type Packet, type RunOutcome, type StagePeerStatus, type StageSpec, type StageState } from './types.js'
import { StageStats } from './stage-stats.js'

/** What a stage needs from the engine around it. */
export interface RunnerHost {
  peerId: string
  instanceHost: InstanceHost
  clock: Clock
  random: Random
  log: Logger
  /** Hands packets to the outbox (`only`: to that stage alone). */
  submit(packets: Packet[], handlers: DeliveryHandlers, only?: string): void
  /** Acks (or nacks) packets of this stage to a sender. */
  reply(to: string, stage: string, id: string, nack: boolean): void
  /** Outputs ready to send (large payloads moved to the store); the same array at once when none is large. */
  prepare(packets: Packet[]): Packet[] | Promise<Packet[]>
  /** The input with its payload (fetched from the store when it travelled as a ref). */
  load(packet: Packet): Promise<Packet>
  deadLetter(stage: string, packet: Packet, error: string): Promise<void>
  newId(): string
  /** Some stage consumes `tag` now (a source is pulled only then: its first items are not dropped while the graph is learnt). */
  hasConsumers(tag: string): boolean
}

export interface RunnerInit {
  agingMs: number
  backlogPerInstance?: number
  dedupMaxIds?: number
  dedupMaxAgeMs?: number
  /** Instances per peer when the stage does not say. */
  defaultMaxInstances: number
  /** Packets handed to an instance beyond the one it runs. @default RUN_AHEAD */
  runAhead?: number
}

interface Flight { item: InboxItem<Packet>, senders: Set<string>, attempts: number, phase: 'running' | 'retrying' | 'emitting', timer?: Timer }

export class StageRunner {
  private state: StageState = 'running'
  private readonly inbox: Inbox<Packet>
  private readonly dedup: DedupWindow
  private readonly flights = new Map<string, Flight>()
  /** Sender peers of the packets waiting in the inbox, by id. */
  private readonly senders = new Map<string, Set<string>>()
  /** Failed attempts of the packets back in the inbox for a retry, by id. */
  private readonly retried = new Map<string, number>()
  private readonly instances: Instances
  private readonly stats: StageStats
  private generation = 0
  private sourcing = false
  /** Called once a retired stage has stopped. */
  private onStopped?: () => void

  constructor (private spec: StageSpec, private readonly host: RunnerHost, private readonly init: RunnerInit) {
    this.inbox = new Inbox({ capacity: spec.inbox ?? DEFAULT_INBOX, agingMs: init.agingMs })
    this.dedup = new DedupWindow({ maxIds: init.dedupMaxIds ?? DEDUP_MAX_IDS, maxAgeMs: init.dedupMaxAgeMs ?? DEDUP_MAX_AGE_MS })
    this.stats = new StageStats(host.clock)
    this.instances = new Instances(spec.stage, host, this.stats, {
      onReady: () => this.pump(),
      onRetry: () => { this.scale(); this.pump() }
    }, init.runAhead ?? RUN_AHEAD)
  }

  get stage (): string { return this.spec.stage }

  update (spec: StageSpec): void { this.spec = spec }

  /** Packets pushed by `from`. */
  receive (from: string, packets: readonly Packet[]): void {
    const now = this.host.clock.now()
    for (const p of packets) {
      const flight = this.flights.get(p.id)
      const waiting = this.senders.get(p.id)
      if (this.dedup.has(p.id, now)) this.host.reply(from, this.stage, p.id, false)
      else if (flight !== undefined) flight.senders.add(from) // its ack comes
      else if (waiting !== undefined) waiting.add(from)
      else if (!accepts(this.state) || !this.inbox.offer({ id: p.id, key: p.key, priority: p.priority, at: now, value: p })) this.host.reply(from, this.stage, p.id, true)
      else this.senders.set(p.id, new Set([from]))
    }
    this.scale()
    this.pump()
  }

  /** A lifecycle event, or a custom one for the instances. */
  async event (name: string, args: unknown): Promise<void> {
    if (['start', 'pause', 'resume', 'stop', 'kill'].includes(name)) { this.lifecycle(name as LifecycleEvent); return }
    const outcomes = await this.instances.event(name, args)
    for (const o of outcomes) this.emitFree(o.emitted)
  }

  /** The stage left this peer's catalog: drain, then stop. */
  retire (onStopped: () => void): void {
    this.onStopped = onStopped
    this.lifecycle('stop')
  }

  /** The stage came back to this peer's catalog while it was leaving: it runs again. */
  revive (): void {
    if (this.onStopped === undefined) return
    this.onStopped = undefined
    this.lifecycle('start')
  }

  /** The engine stops: kill (senders redeliver elsewhere). */
  async close (): Promise<void> {
    this.lifecycle('kill')
    await this.instances.stopAll('kill')
  }

  /** Periodic: scaling, idle instances, the dedup window's age. */
  tick (): void {
    this.dedup.evict(this.host.clock.now())
    this.scale()
    this.pump()
  }

  /** Packets waiting in the inbox (what an ack tells the sender). */
  get inboxSize (): number { return this.inbox.size }

  status (): StagePeerStatus {
    return {
      peerId: this.host.peerId,
      state: this.state,
      instances: this.instances.count,
      inbox: this.inbox.size,
      running: [...this.flights.values()].filter(f => f.phase === 'running').length,
      ...this.stats.snapshot()
    }
  }

  private lifecycle (event: LifecycleEvent | 'drained'): void {
    const t = applyEvent(this.state, event)
    this.state = t.state
    this.host.log.info({ stage: this.stage, event, state: t.state }, 'stage event')
    if (t.nackAll === true) this.nackAll()
    if (t.stopInstances !== undefined) {
      void this.instances.stopAll(t.stopInstances).catch(err => this.host.log.warn({ err, stage: this.stage }, 'stopping instances failed'))
    }
    if (this.state === 'stopped' && this.onStopped !== undefined) this.onStopped()
    this.scale()
    this.pump()
    this.checkDrained()
  }

  private nackAll (): void {
    this.generation++
    for (const item of this.inbox.drain()) { this.retried.delete(item.id); this.nackSenders(item.id, this.senders.get(item.id)) }
    for (const [id, f] of this.flights) {
      if (f.phase === 'emitting') continue // done: its outputs are out, its ack comes
      f.timer?.cancel()
      this.flights.delete(id)
      this.inbox.release(f.item.key)
      this.nackSenders(id, f.senders)
    }
  }

  private nackSenders (id: string, senders: Set<string> | undefined): void {
    this.senders.delete(id)
    for (const s of senders ?? []) this.host.reply(s, this.stage, id, true)
  }

  private scale (): void {
    const now = this.host.clock.now()
    const d = decideScale({
      now,
      instances: this.instances.count,
      starting: this.instances.starting,
      backlog: this.inbox.size + this.instances.queued,
      maxInstances: this.spec.source ? 1 : this.spec.maxInstances ?? this.init.defaultMaxInstances,
      backlogPerInstance: this.init.backlogPerInstance ?? SCALE_BACKLOG_PER_INSTANCE,
      idleSince: this.instances.idle().map(s => s.idleSince),
      idleMs: this.spec.idleMs ?? DEFAULT_IDLE_MS,
      notBefore: this.instances.notBefore,
      active: accepts(this.state) || (this.state === 'stopping' && this.inbox.size > 0)
    })
    const generation = this.generation
    if (d.action === 'start') this.instances.startOne(() => generation === this.generation && this.state !== 'stopped')
    else if (d.action === 'stop') this.instances.stopIdle(this.instances.idle()[d.index])
  }

  private pump (): void {
    if (this.spec.source) { this.source(); return }
    while (serves(this.state)) {
      const slot = this.instances.free()
      if (slot === undefined) break
      const item = this.inbox.take(this.host.clock.now())
      if (item === undefined) break
      const senders = this.senders.get(item.id) ?? new Set()
      this.senders.delete(item.id)
      const flight: Flight = { item, senders, attempts: this.retried.get(item.id) ?? 0, phase: 'running' }
      this.retried.delete(item.id)
      this.flights.set(item.id, flight)
      void this.run(slot, flight)
    }
    this.checkDrained()
  }

  private async run (slot: Slot, f: Flight): Promise<void> {
    const generation = this.generation
    this.instances.claim(slot)
    let outcome: RunOutcome
    try {
      // No store round trip, and no promise, for a payload that travelled inline.
      const input = f.item.value.ref === undefined ? f.item.value : await this.host.load(f.item.value)
      outcome = await this.instances.run(slot, input)
    } catch (err) {
      outcome = { ok: false, emitted: [], error: err instanceof Error ? err.message : String(err) }
    }
    if (generation !== this.generation || this.flights.get(f.item.id) !== f) { this.instances.release(slot); this.pump(); return }
    if (!outcome.ok) { this.instances.release(slot); this.failed(f, outcome.error ?? 'run failed'); return }
    this.stats.processed()
    f.phase = 'emitting'
    const p = f.item.value
    let outputs: Packet[]
    try {
      const prepared = this.host.prepare(outcome.emitted.map((e, i) => ({
        id: childId(p.id, this.stage, i), tag: e.tag, key: e.key ?? p.key, priority: e.priority ?? p.priority, headers: e.headers ?? {}, payload: e.payload, bornAt: p.bornAt
      })))
      outputs = Array.isArray(prepared) ? prepared : await prepared
    } catch (err) {
      this.instances.release(slot)
      this.failed(f, `outputs not stored: ${err instanceof Error ? err.message : String(err)}`)
      return
    }
    this.host.submit(outputs, {
      onSent: () => { this.instances.release(slot); this.inbox.release(p.key); this.pump() },
      onAcked: () => this.done(f)
    })
  }

  private failed (f: Flight, error: string): void {
    f.attempts++
    this.stats.failed(error)
    if (f.attempts <= (this.spec.retries ?? DEFAULT_STAGE_RETRIES)) {
      f.phase = 'retrying'
      f.timer = this.host.clock.setTimeout(() => {
        if (this.flights.get(f.item.id) !== f) return
        // Back in the inbox (its key still locked until now); pump makes its flight again, with the attempts.
        this.flights.delete(f.item.id)
        this.senders.set(f.item.id, f.senders)
        this.retried.set(f.item.id, f.attempts)
        this.inbox.requeue(f.item)
        this.pump()
      }, backoffMs(f.attempts, this.host.random, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS }))
      this.pump()
      return
    }
    this.host.log.warn({ stage: this.stage, id: f.item.id, error }, 'packet dead-lettered')
    f.phase = 'emitting'
    this.host.deadLetter(this.stage, f.item.value, error).then(() => {
      this.inbox.release(f.item.key)
      this.done(f, false)
    }, err => {
      this.host.log.error({ err, stage: this.stage }, 'dead letter not stored')
      this.flights.delete(f.item.id)
      this.inbox.release(f.item.key)
      this.nackSenders(f.item.id, f.senders)
      this.pump()
    })
  }

  private done (f: Flight, remember = true): void {
    const id = f.item.id
    if (this.flights.get(id) !== f) return
    this.flights.delete(id)
    // A dead letter is not remembered, so that a redrive runs it.
    if (remember) this.dedup.add(id, this.host.clock.now())
    for (const s of f.senders) this.host.reply(s, this.stage, id, false)
    this.pump()
  }

  /** Outputs without an input (custom events, sources). */
  private emitFree (emitted: RunOutcome['emitted'], onSent?: () => void): void {
    const packets = emitted.map(e => ({ id: this.host.newId(), tag: e.tag, key: e.key, priority: e.priority ?? 0, headers: e.headers ?? {}, payload: e.payload, bornAt: this.host.clock.now() }))
    Promise.resolve(this.host.prepare(packets)).then(ps => this.host.submit(ps, { onSent }), err => {
      this.stats.failed(`outputs not stored: ${err instanceof Error ? err.message : String(err)}`)
      onSent?.()
    })
  }

  /** A source: pulls payloads while the stage runs and its outputs find credit. */
  private source (): void {
    if (this.sourcing || this.state !== 'running') return
    if (this.spec.produces === undefined || !this.host.hasConsumers(this.spec.produces)) return
    const slot = this.instances.free()
    if (slot === undefined) return
    this.sourcing = true
    this.instances.claim(slot)
    const generation = this.generation
    this.instances.pull(slot).then(({ items, done }) => {
      if (generation !== this.generation) { this.sourcing = false; this.instances.release(slot); return }
      this.emitFree(items, () => {
        this.sourcing = false
        this.instances.release(slot)
        if (!done) this.pump()
        else this.host.log.info({ stage: this.stage }, 'source ended')
      })
    }, err => {
      this.sourcing = false
      this.instances.release(slot)
      this.stats.failed(`source: ${err instanceof Error ? err.message : String(err)}`)
    })
  }

  private checkDrained (): void {
    if (this.state !== 'stopping' || this.inbox.size > 0) return
    for (const f of this.flights.values()) if (f.phase !== 'emitting') return
    this.lifecycle('drained')
  }
}
