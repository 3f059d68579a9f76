// The pipelines engine of one peer: its stages (StageRunner: inbox, dedup,
// instances), the outbox towards other peers' stages (credit, acks,
// redelivery), and the wire (pipe.push / pipe.ack / pipe.event). I/O reaches
// it through small host interfaces that node-pipelines.ts adapts from the
// mesh transport, membership, the cluster catalog and the store; unit tests
// drive it with in-memory fakes and a manual clock.
import { availableParallelism } from 'node:os'
import type { Clock, Timer } from '../common/clock.js'
import { badRequest, notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Random } from '../common/random.js'
import type { Startable } from '../common/startable.js'
import { ACK_TIMEOUT_MS, AGING_MS, CREDIT_WINDOW, DLQ_PREFIX, NACK_RETRY_MS, ORPHAN_HOLD_MS, PIPE_WIRE_VERSION, PUSH_MAX_BYTES } from './constants.js'
import { buildGraph, consumersOf, isValidTag, localStages, type PipelineGraph } from './core/graph-rules.js'
import { Outbox, type Send } from './core/outbox.js'
import { packetsToColumns } from './columns.js'
import { checkPacket, parsePipeMessage, type LocalStageStatus, type Nack, type PipeMessage, type PipeWireMessage } from './messages.js'
import { externalize, idMaker, internalize, isLarge, safe, wireBytes, type PipelineStore } from './packets.js'
import { StageRunner, type RunnerHost } from './stage-runner.js'
import { MAX_PRIORITY, MIN_PRIORITY, type InjectOptions, type InstanceHost, type Packet, type Payload, type StageSpec } from './types.js'

export type { PipelineStore } from './packets.js'

/** One-way messages to peers by id (the mesh transport, adapted). */
export interface PipelineNet {
  /** Best effort; false when dropped at once (the packets are routed again later). */
  send(peerId: string, msg: PipeWireMessage): boolean
  onMessage(fn: (msg: unknown, fromPeerId: string) => void): () => void
}

export interface PipelineMembership {
  isAlive(peerId: string): boolean
  onDead(fn: (peerId: string) => void): () => void
}

/** The stages the cluster catalog declares, and its changes. */
export interface GraphSource {
  stages(): StageSpec[]
  onChange(fn: () => void): () => void
}

export interface EngineComponents {
  peerId: string
  net: PipelineNet
  membership: PipelineMembership
  graph: GraphSource
  host: InstanceHost
  store: PipelineStore
  clock: Clock
  random: Random
  log: Logger
}

export interface EngineInit {
  /** @default CREDIT_WINDOW */
  window?: number
  /** @default ACK_TIMEOUT_MS */
  ackTimeoutMs?: number
  /** @default NACK_RETRY_MS */
  nackRetryMs?: number
  /** How long an output whose tag no stage consumes yet waits for one, ms. @default ORPHAN_HOLD_MS */
  orphanHoldMs?: number
  /** @default AGING_MS */
  agingMs?: number
  /** Instances per stage per peer when the stage does not say. @default the peer's core count (`availableParallelism()`) */
  maxInstances?: number
  /** Packets handed to a stage instance beyond the one it runs. @default RUN_AHEAD */
  runAhead?: number
  /** Scaling, dedup and idle checks, ms. @default 1000 */
  tickMs?: number
  backlogPerInstance?: number
  dedupMaxIds?: number
  dedupMaxAgeMs?: number
}

const EVENT_NAME = /^[a-z][a-z0-9_-]{0,63}$/

/** What a flush answers one sender for one stage: the batches done, the packets refused. */
interface Replies { to: string, stage: string, done: number[], nack: Nack[] }

export class PipelineEngine implements Startable {
  private graph: PipelineGraph = buildGraph([])
  private readonly outbox: Outbox
  private readonly runners = new Map<string, StageRunner>()
  /** Acks (batch ids) and nacks to send at the next flush, by peer, then stage. */
  private replies = new Map<string, Map<string, Replies>>()
  private readonly offs: Array<() => void> = []
  private readonly newId: () => string
  private flushQueued = false
  private wake?: { at: number, timer: Timer }
  private ticker?: Timer
  private running = false
  private readonly runnerHost: RunnerHost

  constructor (private readonly c: EngineComponents, private readonly init: EngineInit = {}) {
    this.outbox = new Outbox({
      window: init.window ?? CREDIT_WINDOW,
      ackTimeoutMs: init.ackTimeoutMs ?? ACK_TIMEOUT_MS,
      nackRetryMs: init.nackRetryMs ?? NACK_RETRY_MS,
      orphanHoldMs: init.orphanHoldMs ?? ORPHAN_HOLD_MS,
      batchBytes: { max: PUSH_MAX_BYTES, of: wireBytes }
    })
    this.newId = idMaker(c.peerId, () => c.clock.now(), c.random)
    this.runnerHost = {
      peerId: c.peerId,
      instanceHost: c.host,
      clock: c.clock,
      random: c.random,
      log: c.log,
      newId: this.newId,
      hasConsumers: tag => consumersOf(this.graph, tag).length > 0,
      submit: (packets, handlers, only, again) => { this.outbox.submit(packets, handlers, c.clock.now(), only, again); this.scheduleFlush() },
      ackBatch: (to, stage, batch) => { this.replyTo(to, stage).done.push(batch); this.scheduleFlush() },
      nack: (to, stage, batch, id) => { this.nackOf(this.replyTo(to, stage), batch, id); this.scheduleFlush() },
      prepare: packets => packets.some(isLarge) ? Promise.all(packets.map(async p => await externalize(p, c.store))) : packets,
      load: async packet => await internalize(packet, c.store),
      deadLetter: async (stage, packet, error) => {
        const record = { packet, error, at: c.clock.now() }
        // A key per dead-lettering, not per packet: a redriven packet that fails again before
        // its redrive deleted the entry it came from would otherwise be deleted with it (lost).
        await c.store.put(`${DLQ_PREFIX}/${stage}/${safe(packet.id)}~${this.newId()}`, Buffer.from(JSON.stringify(record, bytesAsBase64)))
      }
    }
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.offs.push(
      this.c.net.onMessage((msg, from) => this.onMessage(msg, from)),
      this.c.membership.onDead(peer => {
        this.outbox.peerDead(peer, this.c.clock.now())
        // What the dead peer made may come again, made elsewhere: every stage here looks every packet up for a while.
        for (const r of this.runners.values()) r.suspect()
        this.scheduleFlush()
      }),
      this.c.graph.onChange(() => this.applyGraph())
    )
    this.ticker = this.c.clock.setInterval(() => this.tick(), this.init.tickMs ?? 1_000)
    this.applyGraph()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    for (const off of this.offs.splice(0)) off()
    this.ticker?.cancel()
    this.wake?.timer.cancel()
    await Promise.allSettled([...this.runners.values()].map(async r => await r.close()))
    this.sendReplies()
    this.runners.clear()
  }

  /** Sends a packet in; resolves with its id once every consuming stage took it (credit). */
  async inject (tag: string, payload: Payload, options: InjectOptions = {}): Promise<string> {
    if (!isValidTag(tag)) throw badRequest(`bad tag ${JSON.stringify(tag)}`)
    const priority = options.priority ?? MIN_PRIORITY
    if (!Number.isInteger(priority) || priority < MIN_PRIORITY || priority > MAX_PRIORITY) throw badRequest('priority must be an integer from 0 to 9')
    if (consumersOf(this.graph, tag).length === 0) throw notFound(`no stage consumes the tag ${tag}`)
    const id = this.newId()
    const packet = await externalize({ id, tag, priority, headers: options.headers ?? {}, payload, bornAt: this.c.clock.now(), ...(options.key !== undefined ? { key: options.key } : {}) }, this.c.store)
    await new Promise<void>(resolve => this.runnerHost.submit([packet], options.until === 'acked' ? { onAcked: resolve } : { onSent: resolve }))
    return id
  }

  /** A lifecycle or custom event to `stages` (all when absent): here, and on the other peers running them. */
  async event (name: string, body: { stages?: string[], args?: unknown } = {}): Promise<{ stages: string[] }> {
    if (!EVENT_NAME.test(name)) throw badRequest(`bad event name ${JSON.stringify(name)}`)
    const stages = body.stages ?? [...this.graph.stages.keys()]
    for (const s of stages) if (!this.graph.stages.has(s)) throw notFound(`no stage ${s}`)
    const peers = new Set(stages.flatMap(s => this.graph.stages.get(s)?.peers ?? []))
    peers.delete(this.c.peerId)
    for (const peer of peers) this.c.net.send(peer, { type: 'pipe.event', v: PIPE_WIRE_VERSION, name, stages, ...(body.args !== undefined ? { args: body.args } : {}) })
    await this.localEvent(name, stages, body.args)
    return { stages }
  }

  /** Re-sends a stage's dead letters to it; resolves with how many. */
  async redrive (stage: string): Promise<number> {
    if (!this.graph.stages.has(stage)) throw notFound(`no stage ${stage}`)
    const keys = await this.c.store.list(`${DLQ_PREFIX}/${stage}/`)
    let n = 0
    for (const key of keys) {
      const bytes = await this.c.store.get(key)
      if (bytes === undefined) continue
      const record = JSON.parse(Buffer.from(bytes).toString('utf8'), base64AsBytes) as { packet: unknown }
      const packet = checkPacket(record.packet)
      await new Promise<void>(resolve => this.runnerHost.submit([packet], { onSent: resolve }, stage))
      await this.c.store.delete(key)
      n++
    }
    return n
  }

  /** Dead letters of a stage (as the store lists them). */
  async deadLetters (stage: string): Promise<number> {
    return (await this.c.store.list(`${DLQ_PREFIX}/${stage}/`)).length
  }

  /** This peer's stages. */
  localStatus (): LocalStageStatus[] {
    return [...this.runners.values()].map(r => ({ stage: r.stage, ...r.status() }))
  }

  graphNow (): PipelineGraph { return this.graph }

  /** Deliveries waiting for credit or a peer, and sent but unacked (tests, status). */
  outboxSize (): { pending: number, unacked: number } { return { pending: this.outbox.pendingCount, unacked: this.outbox.unackedCount } }

  private applyGraph (): void {
    this.graph = buildGraph(this.c.graph.stages())
    this.outbox.setGraph(this.graph)
    const here = new Map(localStages(this.graph, this.c.peerId).map(s => [s.stage, s]))
    for (const [stage, spec] of here) {
      const r = this.runners.get(stage)
      if (r !== undefined) { r.update(spec); r.revive(); continue }
      this.runners.set(stage, new StageRunner(spec, this.runnerHost, {
        agingMs: this.init.agingMs ?? AGING_MS,
        defaultMaxInstances: this.init.maxInstances ?? availableParallelism(),
        backlogPerInstance: this.init.backlogPerInstance,
        dedupMaxIds: this.init.dedupMaxIds,
        dedupMaxAgeMs: this.init.dedupMaxAgeMs,
        runAhead: this.init.runAhead
      }))
      this.runners.get(stage)?.tick()
    }
    for (const [stage, r] of this.runners) {
      if (!here.has(stage)) r.retire(() => { if (this.runners.get(stage) === r) this.runners.delete(stage) })
      else r.tick() // a source whose tag found its first consumer starts
    }
    this.scheduleFlush()
  }

  private onMessage (raw: unknown, from: string): void {
    let msg: PipeMessage
    try {
      msg = parsePipeMessage(raw)
    } catch (err) {
      this.c.log.debug({ err, from }, 'pipe message refused')
      return
    }
    this.handle(msg, from)
  }

  private handle (msg: PipeMessage, from: string): void {
    const now = this.c.clock.now()
    if (msg.type === 'pipe.push') {
      const r = this.runners.get(msg.stage)
      if (r !== undefined) r.receive(from, msg.batch, msg.packets, msg.again)
      else { this.replyTo(from, msg.stage).nack.push({ batch: msg.batch }); this.scheduleFlush() }
    } else if (msg.type === 'pipe.ack') {
      this.outbox.inboxOf(from, msg.stage, msg.inbox)
      // Nacks first: the batches `done` names are acked without the packets refused.
      for (const n of msg.nack ?? []) this.outbox.nack(from, msg.stage, n.batch, n.ids, now)
      if (msg.done.length > 0) this.outbox.ack(from, msg.stage, msg.done)
      this.scheduleFlush()
    } else {
      this.localEvent(msg.name, msg.stages ?? [...this.runners.keys()], msg.args).catch(err => this.c.log.warn({ err, event: msg.name }, 'pipeline event failed'))
    }
  }

  private async localEvent (name: string, stages: string[], args: unknown): Promise<void> {
    await Promise.all(stages.map(async s => await this.runners.get(s)?.event(name, args)))
  }

  private replyTo (to: string, stage: string): Replies {
    let byStage = this.replies.get(to)
    if (byStage === undefined) { byStage = new Map(); this.replies.set(to, byStage) }
    let r = byStage.get(stage)
    if (r === undefined) { r = { to, stage, done: [], nack: [] }; byStage.set(stage, r) }
    return r
  }

  /** Packet `id` of `batch` refused: joins the batch's nack of this flush (the last one, as nacks come a batch at a time). */
  private nackOf (r: Replies, batch: number, id: string): void {
    const last = r.nack[r.nack.length - 1]
    if (last?.batch === batch && last.ids !== undefined) last.ids.push(id)
    else r.nack.push({ batch, ids: [id] })
  }

  private scheduleFlush (): void {
    if (this.flushQueued) return
    this.flushQueued = true
    // Everything one turn produced goes out in one batch per (peer, stage).
    queueMicrotask(() => { this.flushQueued = false; this.flush() })
  }

  private flush (): void {
    if (!this.running) return
    this.sendReplies()
    const now = this.c.clock.now()
    const { sends, wakeAt, dropped } = this.outbox.flush(now, p => p === this.c.peerId || this.c.membership.isAlive(p))
    if (dropped !== undefined) this.c.log.warn({ dropped }, 'packets whose tag no stage consumed were dropped')
    for (const s of sends) this.push(s, now)
    if (wakeAt !== undefined && (this.wake === undefined || wakeAt < this.wake.at)) {
      this.wake?.timer.cancel()
      const timer = this.c.clock.setTimeout(() => { this.wake = undefined; this.flush() }, Math.max(0, wakeAt - now))
      this.wake = { at: wakeAt, timer }
    }
  }

  private push (s: Send, now: number): void {
    if (s.peer === this.c.peerId) {
      const r = this.runners.get(s.stage)
      if (r !== undefined) r.receive(this.c.peerId, s.batch, s.packets, s.again)
      else this.outbox.nack(s.peer, s.stage, s.batch, undefined, now)
      return
    }
    if (!this.c.net.send(s.peer, { type: 'pipe.push', v: PIPE_WIRE_VERSION, stage: s.stage, batch: s.batch, cols: packetsToColumns(s.packets), ...(s.again !== undefined ? { again: s.again } : {}) })) {
      this.outbox.nack(s.peer, s.stage, s.batch, undefined, now)
      this.scheduleFlush()
    }
  }

  private sendReplies (): void {
    // Taken out first: an ack handled here (to this peer) may finish a packet whose own ack is then queued for the next flush.
    const replies = this.replies
    this.replies = new Map()
    for (const r of [...replies.values()].flatMap(byStage => [...byStage.values()])) {
      const inbox = this.runners.get(r.stage)?.inboxSize ?? 0
      const msg = { type: 'pipe.ack', v: PIPE_WIRE_VERSION, stage: r.stage, done: r.done, inbox, ...(r.nack.length > 0 ? { nack: r.nack } : {}) } as const
      if (r.to === this.c.peerId) this.handle(msg, this.c.peerId)
      else this.c.net.send(r.to, msg)
    }
  }

  private tick (): void {
    for (const r of this.runners.values()) r.tick()
    this.scheduleFlush()
  }
}

/** JSON of a dead letter: bytes as `{$bytes: base64}`. */
function bytesAsBase64 (_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  if (value !== null && typeof value === 'object' && (value as { type?: unknown }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { $bytes: Buffer.from((value as { data: number[] }).data).toString('base64') }
  }
  return value
}

function base64AsBytes (_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && typeof (value as { $bytes?: unknown }).$bytes === 'string' && Object.keys(value).length === 1) {
    return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'))
  }
  return value
}

export function createPipelineEngine (c: EngineComponents, init: EngineInit = {}): PipelineEngine {
  return new PipelineEngine(c, init)
}
