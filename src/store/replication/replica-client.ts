import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { PmzError } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Transport } from '../../mesh/transport/index.js'
import type { ReplicaEntry, ValueMeta } from '../record.js'
import type { ApplyResult, ListOptions, ReplicaPut, ReplicaStore, StoredValue } from '../types.js'
import { ACK_TIMEOUT_MS, PUT_TIMEOUT_MS, READ_WHOLE_MAX_BYTES, SURVEY_TIMEOUT_MS } from './constants.js'
import { STORE_ENTRY, STORE_LIST, STORE_PUT, STORE_READ, STORE_TOMBSTONE, type ReplicationReply, type ReplicationRequest } from './messages.js'
import type { Target } from './placement.js'

/**
 * The replica operations, addressed to a target: the local store for self,
 * a `store.*` request over the mesh for the others. Every version that comes
 * back is folded into this peer's HLC.
 */
export class ReplicaClient {
  constructor (private readonly transport: Transport, private readonly local: ReplicaStore) {}

  async entry (t: Target, key: string): Promise<ReplicaEntry | undefined> {
    if (t.isSelf) return await this.local.entry(key)
    const r = await this.call(t, { type: STORE_ENTRY, v: 1, key }, SURVEY_TIMEOUT_MS)
    const entry = (r.msg as Extract<ReplicationReply, { type: 'store.entry.reply' }>).entry ?? undefined
    if (entry !== undefined) this.local.observeVersion(entry.version)
    return entry
  }

  /**
   * The live value at `t`. A small remote value is read whole and checked
   * against its sha256 before it is returned (so a bad copy fails here and
   * the caller tries the next replica); a large one streams and fails at its
   * end on a mismatch, as the local store's reader does.
   */
  async read (t: Target, key: string, signal?: AbortSignal): Promise<StoredValue> {
    if (t.isSelf) return await this.local.get(key)
    const r = await this.call(t, { type: STORE_READ, v: 1, key }, ACK_TIMEOUT_MS, { signal })
    const meta = (r.msg as Extract<ReplicationReply, { type: 'store.value' }>).meta
    this.local.observeVersion(meta.version)
    const body = r.body ?? (async function * () {})()
    if (meta.size <= READ_WHOLE_MAX_BYTES) {
      const parts: Uint8Array[] = []
      for await (const piece of body) parts.push(piece)
      const bytes = Buffer.concat(parts)
      if (bytes.length !== meta.size || sha256(bytes) !== meta.sha256) throw corrupt(key, t.peerId)
      return { meta, body: bytes }
    }
    return { meta, body: Readable.from(verified(body, meta, t.peerId)) }
  }

  async put (t: Target, key: string, body: AsyncIterable<Uint8Array>, put: ReplicaPut, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<ApplyResult> {
    if (t.isSelf) return await this.local.applyPut(key, body, put, options)
    const msg: ReplicationRequest = { type: STORE_PUT, v: 1, key, put, maxBytes: Number.isFinite(options.maxBytes) ? options.maxBytes ?? null : null, sizeHint: options.sizeHint ?? null }
    const r = await this.call(t, msg, PUT_TIMEOUT_MS, { body, signal: options.signal })
    return this.applied(r.msg)
  }

  async tombstone (t: Target, key: string, version: HlcTimestamp, deletedAt: number): Promise<ApplyResult> {
    if (t.isSelf) return await this.local.applyTombstone(key, version, deletedAt)
    const r = await this.call(t, { type: STORE_TOMBSTONE, v: 1, key, version, deletedAt }, ACK_TIMEOUT_MS)
    return this.applied(r.msg)
  }

  async list (address: string, options: ListOptions): Promise<ValueMeta[]> {
    const r = await this.transport.request(address, { type: STORE_LIST, v: 1, options: { ...options } }, { timeoutMs: ACK_TIMEOUT_MS })
    return (r.msg as Extract<ReplicationReply, { type: 'store.list.reply' }>).items
  }

  private applied (msg: unknown): ApplyResult {
    const m = msg as Extract<ReplicationReply, { type: 'store.applied' }>
    if (m.entry !== null) this.local.observeVersion(m.entry.version)
    return { applied: m.applied, entry: m.entry ?? undefined }
  }

  private async call (t: Target, msg: ReplicationRequest, timeoutMs: number, extra: { body?: AsyncIterable<Uint8Array>, signal?: AbortSignal } = {}): ReturnType<Transport['request']> {
    if (t.address === '') throw new PmzError('ERR_UNAVAILABLE', `no mesh address for ${t.peerId}`)
    return await this.transport.request(t.address, msg, { timeoutMs, ...extra })
  }
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function corrupt (key: string, peerId: string): PmzError {
  return new PmzError('ERR_CORRUPT', 'content does not match its sha256', { details: { key, replica: peerId } })
}

/** Passes the bytes through and fails at the end (never a clean end) when size or sha256 do not match. */
async function * verified (body: AsyncIterable<Uint8Array>, meta: ValueMeta, peerId: string): AsyncIterable<Uint8Array> {
  const hash = createHash('sha256')
  let size = 0
  for await (const piece of body) {
    hash.update(piece)
    size += piece.length
    yield piece
  }
  if (size !== meta.size || hash.digest('hex') !== meta.sha256) throw corrupt(meta.key, peerId)
}
