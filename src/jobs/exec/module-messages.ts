/**
 * IPC between the runner and a module child (module-child.ts), over
 * `serialization: 'advanced'` (structured clone: Buffers cross as bytes).
 * One run at a time per child; `id` ties every message to its run.
 */

/** The store operations `ctx.store` forwards to the parent. */
export type StoreOp = 'get' | 'put' | 'stat' | 'list' | 'delete'

export type ParentMessage =
  | {
    type: 'run'
    id: number
    path: string
    hash: string
    jobId: number | string
    attempt: number
    peerId: string
    args: unknown
    dataFile?: string
    schedule?: { scheduleId: number, firedAt: number }
  }
  | { type: 'store:reply' | 'emit:reply', call: number, ok: true, value: unknown }
  | { type: 'store:reply' | 'emit:reply', call: number, ok: false, code: string, message: string }

export type ChildMessage =
  | { type: 'log', id: number, level: 'info' | 'warn' | 'error', text: string }
  | { type: 'progress', id: number, fraction: number, text?: string }
  | { type: 'result', id: number, ok: true, output: unknown }
  | { type: 'result', id: number, ok: false, error: string, retire?: boolean }
  | { type: 'store', id: number, call: number, op: StoreOp, key?: string, body?: Uint8Array, options?: Record<string, unknown> }
  /** `ctx.emit`: a packet for the pipelines; the reply's value is its id. Bytes cross as a Uint8Array. */
  | { type: 'emit', id: number, call: number, tag: string, payload: unknown, options?: unknown }
