// The contract of the pipelines layer (issue 17): Pumpkin's dataflow between
// seeds, PipeRT's routines and events, Impetus's prioritised streams. These
// types are shared by the pure core (core/: graph, routing, inbox, dedup,
// delivery, scaling, events), the stage instances (exec/: child processes
// that run a stage seed) and the node's wiring (node-pipelines.ts).

import type { StageDecl } from '../seeds/index.js'

/** A JSON value, or bytes. */
export type Payload = unknown

/** Priorities run from 0 (lowest) to 9 (highest). @default 0 */
export const MIN_PRIORITY = 0
export const MAX_PRIORITY = 9

/**
 * What flows between stages (DESIGN.md "Seeds"): `{id, tag, key, priority,
 * payload, headers}`. `id` is unique cluster-wide (a UUID or `{origin}:{n}`);
 * a redelivered packet keeps it, so a stage's dedup window recognises it.
 */
export interface Packet {
  id: string
  tag: string
  /** Packets of one key go to one instance of a stage, in order. */
  key?: string
  priority: number
  /** Inline: a JSON value or a Uint8Array up to INLINE_PAYLOAD_BYTES; else absent and `ref` names it. */
  payload?: Payload
  /** A payload over INLINE_PAYLOAD_BYTES travels through the store: the key holding it. */
  ref?: string
  headers: Record<string, string>
  /** When it entered the pipeline (ms since the epoch): end-to-end latency. */
  bornAt: number
}

/** Payloads up to this many bytes travel inline; larger ones through the store. */
export const INLINE_PAYLOAD_BYTES = 1024 * 1024

/**
 * What a seed declares to be part of a pipeline (module exports, or an
 * executable's sidecar), as the catalog gossips it: defined by the seeds
 * layer, which reads it (seeds/seed-stage.ts).
 */
export type { StageDecl }

export const DEFAULT_IDLE_MS = 30_000
export const DEFAULT_STAGE_RETRIES = 3
export const DEFAULT_INBOX = 1024

/** A stage as the graph knows it: a seed with a StageDecl, and the peers holding it. */
export interface StageSpec extends StageDecl {
  /** The seed's name (`pumpkin/greet`): the stage's name. */
  stage: string
  /** Worker peers holding the seed (sorted). */
  peers: string[]
}

/** The lifecycle events of PipeRT, plus custom ones (any other lower-case name). */
export type LifecycleEvent = 'start' | 'pause' | 'resume' | 'stop' | 'kill'

/** A stage's state on one peer, as events move it. */
export type StageState = 'running' | 'paused' | 'stopping' | 'stopped'

/** What running one packet (or one event) in an instance gave. */
export interface RunOutcome {
  ok: boolean
  /** Packets to send on: the return value's payloads under `produces`, plus `ctx.emit` calls. */
  emitted: Array<{ tag: string, payload: Payload, key?: string, priority?: number, headers?: Record<string, string> }>
  /** Why it failed: one line. */
  error?: string
}

/**
 * One running instance of a stage on this peer: a child process with the
 * seed loaded and `setup` done. Packets run one at a time.
 */
export interface StageInstance {
  readonly stage: string
  /** Runs a packet; called again before the previous call settled, it runs the packets one after the other, in call order. */
  run(packet: Packet): Promise<RunOutcome>
  /** A custom event (`on{Event}`); lifecycle events are the engine's business. */
  event(name: string, args: unknown): Promise<RunOutcome>
  /**
   * Sources: the next payloads of the generator, at most `max` (resolves with
   * [] and done once it ended). The generator is advanced only by pulls
   * (back-pressure): it waits for a first item, then takes more while they
   * come at once. Never rejects: a generator that threw, or an instance that
   * died, ends with `done` and the reason in `error`.
   */
  pull?(max: number): Promise<{ items: RunOutcome['emitted'], done: boolean, error?: string }>
  /**
   * Drain: lets the calls under way end, runs `cleanup` and ends the process
   * (killed past a deadline); kill: ends it at once, without cleanup (calls
   * under way resolve `{ok: false}`). Resolves once the process is gone.
   */
  stop(how: 'drain' | 'kill'): Promise<void>
  /** The process died when not asked to stop (a crash, `process.exit`, out of memory), with the reason. */
  onExit(fn: (reason: string) => void): void
}

/** Starts instances: exec/ implements it with child processes; unit tests with functions. */
export interface InstanceHost {
  /** Loads the stage seed in a new instance and runs its `setup`; rejects (PmzError) when setup throws. */
  start(stage: string): Promise<StageInstance>
}

/** Where a packet enters: its options besides the payload. */
export interface InjectOptions {
  key?: string
  /** 0–9. @default 0 */
  priority?: number
  headers?: Record<string, string>
  /**
   * When inject resolves: `sent`, once every consuming stage took the packet
   * (under credit); `acked`, once every one ran it and handed its outputs on
   * (the rx directory moves a file to done/ only then). @default 'sent'
   */
  until?: 'sent' | 'acked'
}

/** One stage on one peer, as `GET /admin/pipelines` shows it. */
export interface StagePeerStatus {
  peerId: string
  state: StageState
  instances: number
  /** Packets waiting in the inbox. */
  inbox: number
  /** Packets running in an instance now. */
  running: number
  processed: number
  failed: number
  /** Packets processed per second over the last few seconds. */
  ratePerS: number
  /** The last errors (run or setup), newest first, a few at most. */
  errors: string[]
}

export interface StageStatus {
  stage: string
  consumes: string[]
  produces?: string
  source: boolean
  peers: StagePeerStatus[]
  /** Packets in the stage's dead-letter list. */
  deadLetters: number
}

/** The graph: `GET /admin/pipelines`. */
export interface PipelineStatus {
  stages: StageStatus[]
  /** Tag → the stages consuming it. */
  tags: Record<string, string[]>
}

/**
 * The pipelines as the gateway and the CLI use them (cluster-wide; any peer
 * serves it). Errors are PmzErrors: ERR_BAD_REQUEST (bad tag, priority,
 * event), ERR_NOT_FOUND (no stage consumes the tag / no such stage).
 */
export interface PipelineService {
  /** Sends a packet into the pipeline; resolves with its id once a consuming stage has it (waits while the stages are full: back-pressure). */
  inject(tag: string, payload: Payload, options?: InjectOptions): Promise<string>
  status(): Promise<PipelineStatus>
  /** A lifecycle or custom event to the given stages (all when absent) on every peer; resolves with the stages it reached. */
  event(name: string, body?: { stages?: string[], args?: unknown }): Promise<{ stages: string[] }>
  /** Re-sends a stage's dead letters to it; resolves with how many. */
  redrive(stage: string): Promise<number>
}
