// One stage on one peer: its inbox, dedup window and instances. Packets
// arrive in batches (one per push) and are taken by priority (one per
// instance at a time, one per key), run, and the outputs of the runs that end
// in one turn handed to the outbox together; a batch is acked to its sender
// by its id once every packet of it taken here is done: its outputs acked
// downstream (or it went to the dead-letter list), or known to the dedup
// window. Packets refused (full inbox, stopped stage) are nacked at once.
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
  /** Hands packets to the outbox (`only`: to that stage alone; `again[i]`: packet i may have been delivered before). */
  submit(packets: Packet[], handlers: DeliveryHandlers, only?: string, again?: readonly boolean[]): void
  /** Acks a batch of this stage to its sender: every packet of it not nacked is done. */
  ackBatch(to: string, stage: string, batch: number): void
  /** Refuses packet `id` of a batch (the sender routes it again later). */
  nack(to: string, stage: string, batch: number, id: string): void
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

/** A batch received: acked once none of its packets taken here is open. */
interface Src { to: string, batch: number, open: number }
/**
 * A packet held from its arrival until done: waiting in the inbox (it is the
 * inbox's item), running, retrying, or emitting (outputs handed on, their
 * acks awaited). `src`: its batch; `more`: batches that brought it again meanwhile.
 */
interface Flight extends InboxItem<Packet> {
  src: Src
  more?: Src[]
  attempts: number
  phase: 'waiting' | 'running' | 'retrying' | 'emitting'
  timer?: Timer
  /** It may have been processed before (its sender said so, or it came while every packet was looked up): so may its outputs. */
  again: boolean
}
/** A run that ended in this turn: its outputs go with the turn's others. */
interface Ended { f: Flight, slot: Slot, outputs: Packet[] }

export class StageRunner {
  private state: StageState = 'running'
  private readonly inbox: Inbox<Packet>
  private readonly dedup: DedupWindow
  /** Every packet held here (waiting, running, retrying, emitting), by id. */
  private readonly held = new Map<string, Flight>()
  /** Runs ended in this turn whose outputs are not handed on yet. */
  private turn: Ended[] = []
  private readonly instances: Instances
  private readonly stats: StageStats
  private generation = 0
  /** Until then every packet that arrives is looked up in the dedup window, not only those flagged `again` (a peer died). */
  private checkAllUntil = 0
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

  /**
   * Batch `batch` of packets pushed by `from`. Only a packet that may have
   * come before (`again`: their indices; or any while a peer's death is
   * recent) is looked up among those done and held: a first delivery cannot
   * be a copy, so the common path does no lookup per packet.
   */
  receive (from: string, batch: number, packets: readonly Packet[], again?: readonly number[]): void {
    const now = this.host.clock.now()
    const src: Src = { to: from, batch, open: 1 } // 1: this loop, so that it is not acked before the end
    const flagged = again === undefined || again.length === 0 ? undefined : new Set(again)
    // A copy made again elsewhere may still come unflagged (made before its maker was thought dead): look everything up for a window's age.
    if (flagged !== undefined) this.suspect()
    const checkAll = now < this.checkAllUntil
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i]
      const maybe = checkAll || flagged?.has(i) === true
      if (maybe) {
        if (this.dedup.has(p.id, now)) continue // done before: nothing to wait for
        const held = this.held.get(p.id)
        if (held !== undefined) { (held.more ??= []).push(src); src.open++; continue } // its ack comes with the first copy's
      }
      const f: Flight = { id: p.id, key: p.key, priority: p.priority, at: now, value: p, src, attempts: 0, phase: 'waiting', again: maybe }
      if (!accepts(this.state) || !this.inbox.offer(f)) { this.host.nack(from, this.stage, batch, p.id); continue }
      this.held.set(p.id, f)
      src.open++
    }
    this.settle(src)
    this.scale()
    this.pump()
  }

  /** A peer died: what it made may come again made elsewhere, unflagged; every packet is looked up for the dedup window's age. */
  suspect (): void {
    this.checkAllUntil = Math.max(this.checkAllUntil, this.host.clock.now() + (this.init.dedupMaxAgeMs ?? DEDUP_MAX_AGE_MS))
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
      running: [...this.held.values()].filter(f => f.phase === 'running').length,
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
    for (const item of this.inbox.drain()) { this.held.delete(item.id); this.settleAll(item as Flight, true) }
    for (const [id, f] of this.held) {
      if (f.phase === 'emitting') continue // done: its outputs are out, its ack comes
      f.timer?.cancel()
      this.held.delete(id)
      this.inbox.release(f.key)
      this.settleAll(f, true)
    }
  }

  /** One packet of the batch is done (or was nacked): the batch is acked once none is open. */
  private settle (src: Src): void {
    if (--src.open === 0) this.host.ackBatch(src.to, this.stage, src.batch)
  }

  /** The packet is settled in every batch that brought it (nacked first when `nack`). */
  private settleAll (f: Flight, nack: boolean): void {
    if (nack) this.host.nack(f.src.to, this.stage, f.src.batch, f.id)
    this.settle(f.src)
    for (const s of f.more ?? []) {
      if (nack) this.host.nack(s.to, this.stage, s.batch, f.id)
      this.settle(s)
    }
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
      const f = this.inbox.take(this.host.clock.now()) as Flight | undefined
      if (f === undefined) break
      f.phase = 'running'
      void this.run(slot, f)
    }
    this.checkDrained()
  }

  private async run (slot: Slot, f: Flight): Promise<void> {
    const generation = this.generation
    this.instances.claim(slot)
    let outcome: RunOutcome
    try {
      // No store round trip, and no promise, for a payload that travelled inline.
      const input = f.value.ref === undefined ? f.value : await this.host.load(f.value)
      outcome = await this.instances.run(slot, input)
    } catch (err) {
      outcome = { ok: false, emitted: [], error: err instanceof Error ? err.message : String(err) }
    }
    if (generation !== this.generation || this.held.get(f.id) !== f) { this.instances.release(slot); this.pump(); return }
    if (!outcome.ok) { this.instances.release(slot); this.failed(f, outcome.error ?? 'run failed'); return }
    this.stats.processed()
    f.phase = 'emitting'
    const p = f.value
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
    // The runs ending in this turn (an instance answers a batch of calls at once) hand their outputs on together.
    if (this.turn.push({ f, slot, outputs }) === 1) queueMicrotask(this.handOn)
  }

  /** The outputs of this turn's runs to the outbox, as one submission: the inputs are done once all were acked. */
  private readonly handOn = (): void => {
    const turn = this.turn
    this.turn = []
    const outputs = turn.length === 1 ? turn[0].outputs : turn.flatMap(t => t.outputs)
    // Outputs of an input that may have been processed before may have been made before: flagged for the next stage's lookup.
    let again: boolean[] | undefined
    if (turn.some(t => t.f.again && t.outputs.length > 0)) again = turn.flatMap(t => t.outputs.map(() => t.f.again))
    this.host.submit(outputs, {
      onSent: () => {
        for (const t of turn) { this.instances.release(t.slot); this.inbox.release(t.f.key) }
        this.pump()
      },
      onAcked: () => {
        for (const t of turn) this.done(t.f)
        this.pump()
      }
    }, undefined, again)
  }

  private failed (f: Flight, error: string): void {
    f.attempts++
    this.stats.failed(error)
    if (f.attempts <= (this.spec.retries ?? DEFAULT_STAGE_RETRIES)) {
      f.phase = 'retrying'
      f.timer = this.host.clock.setTimeout(() => {
        if (this.held.get(f.id) !== f) return
        // Back in the inbox (its key still locked until now), with its attempts.
        f.phase = 'waiting'
        this.inbox.requeue(f)
        this.pump()
      }, backoffMs(f.attempts, this.host.random, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS }))
      this.pump()
      return
    }
    this.host.log.warn({ stage: this.stage, id: f.id, error }, 'packet dead-lettered')
    f.phase = 'emitting'
    this.host.deadLetter(this.stage, f.value, error).then(() => {
      this.inbox.release(f.key)
      this.done(f, false)
      this.pump()
    }, err => {
      this.host.log.error({ err, stage: this.stage }, 'dead letter not stored')
      this.held.delete(f.id)
      this.inbox.release(f.key)
      this.settleAll(f, true)
      this.pump()
    })
  }

  private done (f: Flight, remember = true): void {
    if (this.held.get(f.id) !== f) return
    this.held.delete(f.id)
    // A dead letter is not remembered, so that a redrive runs it.
    if (remember) this.dedup.add(f.id, this.host.clock.now())
    this.settleAll(f, false)
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
    for (const f of this.held.values()) if (f.phase !== 'emitting') return
    this.lifecycle('drained')
  }
}
