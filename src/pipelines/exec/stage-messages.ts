/**
 * Messages between a stage instance (module-instance.ts) and its runtime
 * (stage-runtime.ts), carried by a worker thread's port or a child's IPC
 * channel (`serialization: 'advanced'`): both structured clone, so Buffers
 * cross as bytes (a thread's batch moves them in one transferred buffer,
 * batch-bytes.ts). `id` ties a reply to its call; runs and events go one at
 * a time, pulls of a source on a lane of their own. The calls of one
 * event-loop turn cross as one `batch` message, and so do the replies of one
 * turn of the runtime: a message costs both sides a wake-up.
 */
import type { StoreOp } from '../../jobs/exec/module-messages.js'
import type { ItemColumns, PacketColumns } from '../columns.js'
import type { Packet, RunOutcome } from '../types.js'

export type Emitted = RunOutcome['emitted'][number]

export type ParentMessage =
  | { type: 'setup', path: string, hash: string, stage: string, peerId: string, produces?: string }
  | { type: 'run', id: number, packet: Packet }
  /** Runs of one turn as columns (call-columns.ts): `ids[i]` runs the i-th packet. */
  | { type: 'runs', ids: number[], packets: PacketColumns }
  | { type: 'event', id: number, name: string, args: unknown }
  | { type: 'pull', id: number, max: number }
  /** Drain: abort ctx.signal, let the calls under way end, run `cleanup`, exit. */
  | { type: 'stop' }
  | { type: 'store:reply', call: number, ok: true, value: unknown }
  | { type: 'store:reply', call: number, ok: false, code: string, message: string }
  /** Several of the above, in order. */
  | { type: 'batch', msgs: ParentMessage[] }

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'setup-failed', error: string }
  | { type: 'result', id: number, ok: boolean, emitted: Emitted[], error?: string }
  /** Results of one turn as columns (call-columns.ts): call `ids[i]` emitted `counts[i]` of `items`, in order. */
  | { type: 'results', ids: number[], oks: boolean[], errors: Array<string | null>, counts: number[], items: ItemColumns }
  /** `cols`: the items as columns (then `items` is empty). */
  | { type: 'pulled', id: number, items: Emitted[], cols?: ItemColumns, done: boolean, error?: string }
  | { type: 'log', level: 'info' | 'warn' | 'error', text: string }
  /** The shape of jobs' `ctx.store` calls (answered by jobs/exec/store-bridge.ts); `id` is unused here. */
  | { type: 'store', id: number, call: number, op: StoreOp, key?: string, body?: Uint8Array, options?: Record<string, unknown> }
  /** Several of the above, in order. */
  | { type: 'batch', msgs: ChildMessage[] }
