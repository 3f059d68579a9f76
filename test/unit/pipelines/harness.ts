// An in-process mesh of pipeline engines for unit tests: a hub delivering
// one-way messages on a manual clock (structured-cloned, like msgpack),
// membership that calls a crashed peer dead after DETECT_MS, a graph source,
// an InstanceHost whose instances call JS functions, and a Map store.
import { pino } from 'pino'
import type { Clock } from '../../../src/common/clock.js'
import { seededRandom } from '../../../src/common/random.js'
import { PipelineEngine, type EngineInit, type GraphSource, type PipelineStore } from '../../../src/pipelines/engine.js'
import type { InstanceHost, Packet, RunOutcome, StageInstance, StageSpec } from '../../../src/pipelines/types.js'
import { ManualClock } from '../../helpers/manual-clock.js'

export const DETECT_MS = 1_500
const LATENCY_MS = 1

/** What a stage does with a packet: outputs (payloads under `produces`), or a throw. `ms`: how long it takes. */
export type StageFn = (packet: Packet, peerId: string) => RunOutcome['emitted'] | Promise<RunOutcome['emitted']>

export interface Peer {
  id: string
  engine: PipelineEngine
  up: boolean
  store: Map<string, Uint8Array>
  /** Packets each stage ran here, in order. */
  ran: Map<string, string[]>
  /** Run calls each stage's instances were given here (a call waits while the one before it runs). */
  called: Map<string, number>
  instancesStarted: number
}

export class Mesh {
  readonly clock = new ManualClock()
  readonly peers = new Map<string, Peer>()
  private readonly handlers = new Map<string, (msg: unknown, from: string) => void>()
  private readonly deadListeners = new Map<string, Array<(peer: string) => void>>()
  private readonly dead = new Set<string>()
  private stages: StageSpec[] = []
  private readonly graphListeners: Array<() => void> = []
  /** Stage behaviours by name, and per-packet run time. */
  readonly fns = new Map<string, StageFn>()
  /** What each source stage's generator yields, in order (pulled from here). */
  readonly sourceItems = new Map<string, RunOutcome['emitted']>()
  runMs = 0
  /** Links `from>to` whose messages are lost. */
  readonly blocked = new Set<string>()
  /** Messages sent, by type. */
  readonly sent = new Map<string, number>()
  /** Every message sent, in order, when set (tests that look at the wire). */
  log?: Array<{ from: string, to: string, msg: unknown }>

  constructor (ids: string[], stages: StageSpec[], private readonly init: EngineInit = {}) {
    this.stages = stages
    for (const id of ids) this.addPeer(id)
  }

  async start (): Promise<void> {
    for (const p of this.peers.values()) await p.engine.start()
    await this.clock.advanceAsync(0)
  }

  async stop (): Promise<void> {
    for (const p of this.peers.values()) if (p.up) await p.engine.stop()
  }

  peer (id: string): Peer { return this.peers.get(id) as Peer }

  setStages (stages: StageSpec[]): void {
    this.stages = stages
    for (const fn of this.graphListeners) fn()
  }

  /** kill -9: the peer stops answering at once; membership calls it dead DETECT_MS later. */
  crash (id: string): void {
    const p = this.peer(id)
    p.up = false
    this.handlers.delete(id)
    this.clock.setTimeout(() => {
      this.dead.add(id)
      for (const [peer, fns] of this.deadListeners) if (peer !== id) for (const fn of fns) fn(id)
    }, DETECT_MS)
  }

  async run (ms: number, step = 1): Promise<void> {
    for (let t = 0; t < ms; t += step) await this.clock.advanceAsync(step)
  }

  private addPeer (id: string): void {
    const store = new Map<string, Uint8Array>()
    const ran = new Map<string, string[]>()
    const peer: Peer = { id, up: true, store, ran, called: new Map(), instancesStarted: 0, engine: undefined as unknown as PipelineEngine }
    const graph: GraphSource = {
      stages: () => this.stages,
      onChange: fn => { this.graphListeners.push(fn); return () => {} }
    }
    peer.engine = new PipelineEngine({
      peerId: id,
      net: {
        send: (to, msg) => {
          if (!peer.up) return false
          this.sent.set(msg.type, (this.sent.get(msg.type) ?? 0) + 1)
          const copy = structuredClone(msg)
          this.log?.push({ from: id, to, msg: copy })
          if (this.blocked.has(`${id}>${to}`)) return true
          this.clock.setTimeout(() => { if (peer.up) this.handlers.get(to)?.(copy, id) }, LATENCY_MS)
          return true
        },
        onMessage: fn => { this.handlers.set(id, fn); return () => this.handlers.delete(id) }
      },
      membership: {
        isAlive: p => !this.dead.has(p),
        onDead: fn => { this.deadListeners.set(id, [...(this.deadListeners.get(id) ?? []), fn]); return () => {} }
      },
      graph,
      host: this.instanceHost(peer),
      store: mapStore(store),
      clock: this.clock,
      random: seededRandom(id.length * 7919 + id.charCodeAt(id.length - 1)),
      log: pino({ level: 'silent' })
    }, { tickMs: 100, ...this.init })
    this.peers.set(id, peer)
  }

  private instanceHost (peer: Peer): InstanceHost {
    const clock: Clock = this.clock
    return {
      start: async (stage: string): Promise<StageInstance> => {
        peer.instancesStarted++
        let stopped = false
        // Like a real instance: calls made before the previous one settled wait their turn.
        let lane: Promise<unknown> = Promise.resolve()
        const runNow = async (packet: Packet): Promise<RunOutcome> => {
          if (this.runMs > 0) await new Promise<void>(resolve => clock.setTimeout(resolve, this.runMs))
          if (!peer.up || stopped) return await new Promise<never>(() => {}) // a dead process never answers
          const list = peer.ran.get(stage) ?? []
          list.push(packet.id)
          peer.ran.set(stage, list)
          const fn = this.fns.get(stage)
          try {
            const out = fn === undefined ? [] : await fn(packet, peer.id)
            return { ok: true, emitted: out }
          } catch (err) {
            return { ok: false, emitted: [], error: (err as Error).message }
          }
        }
        return {
          stage,
          run: packet => {
            peer.called.set(stage, (peer.called.get(stage) ?? 0) + 1)
            const result = lane.then(async () => await runNow(packet))
            lane = result.catch(() => {})
            return result
          },
          event: async (name, args) => {
            const out = await this.fns.get(`${stage}:${name}`)?.({ id: name, tag: name, priority: 0, headers: {}, bornAt: 0, payload: args }, peer.id)
            return { ok: true, emitted: out ?? [] }
          },
          pull: async max => {
            // Like a generator with nothing ready: the pull waits (a while here) for its next item.
            const items = this.sourceItems.get(stage) ?? []
            if (items.length === 0) await new Promise<void>(resolve => clock.setTimeout(resolve, 50))
            return { items: items.splice(0, max), done: false }
          },
          stop: async () => { stopped = true },
          onExit: () => {}
        }
      }
    }
  }
}

function mapStore (m: Map<string, Uint8Array>): PipelineStore {
  return {
    put: async (key, bytes) => { m.set(key, bytes) },
    get: async key => m.get(key),
    delete: async key => { m.delete(key) },
    list: async prefix => [...m.keys()].filter(k => k.startsWith(prefix)).sort()
  }
}

/** A stage spec with defaults. */
export function stage (name: string, consumes: string[], peers: string[], more: Partial<StageSpec> = {}): StageSpec {
  return { stage: name, consumes, peers, source: false, events: [], ...more }
}
