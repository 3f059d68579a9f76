import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { PmzError } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Message, Transport } from '../../mesh/transport/index.js'
import type { ReplicaEntry, ValueMeta } from '../record.js'
import type { ApplyResult, ListOptions, PrepareResult, ReplicaPut, ReplicaStore, StageFields, StageResult, StoredValue } from '../types.js'
import { ACK_TIMEOUT_MS, INLINE_MAX_BYTES, LEARN_MAX_PENDING, LEARN_PER_MESSAGE, PUT_TIMEOUT_MS, READ_WHOLE_MAX_BYTES, SURVEY_TIMEOUT_MS } from './constants.js'
import { STORE_COMMIT, STORE_ENTRY, STORE_FETCH, STORE_LIST, STORE_PREPARE, STORE_PUT, STORE_READ, STORE_STAGE, STORE_TOMBSTONE, STORE_UNSTAGE, STORE_LEASE, parseReply, type ReplicationRequest } from './messages.js'
import type { Target } from './placement.js'
import { sha256Hex } from '../../common/digest.js'
import type { Key } from '../key.js'
import type { GrantReply, LeaseGrants } from './leases.js'

/**
 * The replica operations, addressed to a target: the local store for self,
 * a `store.*` request over the mesh for the others. Every version that comes
 * back is folded into this peer's HLC.
 */
export class ReplicaClient {
  /** Chosen writes to tell each replica with the next request to it (learn). */
  private readonly learnt = new Map<string, Array<[Key, HlcTimestamp]>>()

  /**
   * `grants`: this peer's read-lease grants, reported with the accepts it
   * takes itself as a replica (`self` its peer id) as the replica server
   * reports them with the others'.
   */
  constructor (private readonly transport: Transport, private readonly local: ReplicaStore, private readonly grants?: { leases: LeaseGrants, self: string }) {}

  /** A local accept's answer with the read leases this peer granted (LeaseGrants.stamp); other applies unchanged. */
  private stamped (out: ApplyResult, key: Key, version: HlcTimestamp, accept: boolean | undefined): ApplyResult {
    return accept === true && this.grants !== undefined ? this.grants.leases.stamp(out, key, version, this.grants.self) : out
  }

  async entry (t: Target, key: Key): Promise<ReplicaEntry | undefined> {
    if (t.isSelf) return await this.local.entry(key)
    const r = await this.call(t, { type: STORE_ENTRY, v: 1, key }, SURVEY_TIMEOUT_MS)
    const entry = parseReply(r.msg, 'store.entry.reply', t.peerId).entry ?? undefined
    if (entry !== undefined) this.local.observeVersion(entry.version)
    return entry
  }

  /**
   * The record at `t` and, for a small live value held remotely, its bytes
   * (checked against the record's size and sha256: a bad copy comes back
   * without bytes, so the caller reads another replica). For self only the
   * record: the local read is cheap. `read`: `t` answers as a read through
   * it would (ReadHere), and says so: its record is then the key's newest.
   */
  async fetch (t: Target, key: Key, options: { read?: boolean } = {}): Promise<{ entry: ReplicaEntry | undefined, bytes?: Buffer, read?: boolean }> {
    if (t.isSelf) return { entry: await this.local.entry(key) }
    const r = await this.call(t, { type: STORE_FETCH, v: 1, key, ...(options.read === true ? { read: true } : {}) }, SURVEY_TIMEOUT_MS)
    const m = parseReply(r.msg, 'store.fetch.reply', t.peerId)
    const entry = m.entry ?? undefined
    const alone = m.read === true ? { read: true } : {}
    if (entry === undefined) return { entry, ...alone }
    this.local.observeVersion(entry.version)
    if (m.bytes === null) return { entry, ...alone }
    const bytes = asBuffer(m.bytes)
    return bytes.length === entry.size && sha256Hex(bytes) === entry.sha256 ? { entry, bytes, ...alone } : { entry, ...alone }
  }

  /**
   * The live value at `t`. A small remote value is read whole and checked
   * against its sha256 before it is returned (so a bad copy fails here and
   * the caller tries the next replica); a large one streams and fails at its
   * end on a mismatch, as the local store's reader does.
   */
  async read (t: Target, key: Key, signal?: AbortSignal): Promise<StoredValue> {
    if (t.isSelf) return await this.local.get(key)
    const r = await this.call(t, { type: STORE_READ, v: 1, key }, ACK_TIMEOUT_MS, { signal })
    const { meta, bytes: inline } = parseReply(r.msg, 'store.value', t.peerId)
    this.local.observeVersion(meta.version)
    if (inline !== undefined && inline !== null) {
      const bytes = asBuffer(inline)
      if (bytes.length !== meta.size || sha256Hex(bytes) !== meta.sha256) throw corrupt(key, t.peerId)
      return { meta, body: bytes }
    }
    const body = r.body ?? (async function * () {})()
    if (meta.size <= READ_WHOLE_MAX_BYTES) {
      const parts: Uint8Array[] = []
      for await (const piece of body) parts.push(piece)
      const bytes = Buffer.concat(parts)
      if (bytes.length !== meta.size || sha256Hex(bytes) !== meta.sha256) throw corrupt(key, t.peerId)
      return { meta, body: bytes }
    }
    return { meta, body: Readable.from(verified(body, meta, t.peerId)) }
  }

  /** A replicated write of `body`: a stream, or a whole value (sent inside the request when small). */
  async put (t: Target, key: Key, body: AsyncIterable<Uint8Array> | Uint8Array, put: ReplicaPut, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<ApplyResult> {
    const whole = body instanceof Uint8Array ? body : undefined
    if (t.isSelf) return this.stamped(await this.local.applyPut(key, whole !== undefined ? pieces(whole) : body as AsyncIterable<Uint8Array>, put, { ...options, sizeHint: options.sizeHint ?? whole?.length }), key, put.version, put.accept)
    const maxBytes = Number.isFinite(options.maxBytes) ? options.maxBytes ?? null : null
    if (whole !== undefined && whole.length <= INLINE_MAX_BYTES) {
      // One message each way: no body to wait for, so the short deadline.
      const r = await this.call(t, { type: STORE_PUT, v: 1, key, put, maxBytes, sizeHint: whole.length, bytes: whole }, ACK_TIMEOUT_MS, { signal: options.signal })
      return this.applied(r.msg, t.peerId)
    }
    const msg: ReplicationRequest = { type: STORE_PUT, v: 1, key, put, maxBytes, sizeHint: options.sizeHint ?? whole?.length ?? null }
    const r = await this.call(t, msg, PUT_TIMEOUT_MS, { body: whole !== undefined ? pieces(whole) : body as AsyncIterable<Uint8Array>, signal: options.signal })
    return this.applied(r.msg, t.peerId)
  }

  /**
   * Copies a live value to `target` from the first of `holders` that serves
   * it (self included: the local store). With `version`, a holder's value at
   * another version is not copied (undefined: superseded meanwhile). The
   * copy keeps the value's version, times and sha256 unless `as` says
   * otherwise. A holder that cannot be read is skipped; the last error is
   * thrown when none could.
   */
  async copy (key: Key, holders: Target[], target: Target, options: { version?: HlcTimestamp, as?: ReplicaPut } = {}): Promise<ApplyResult | undefined> {
    let lastErr: unknown = new PmzError('ERR_UNAVAILABLE', 'no holder of the value could be read', { details: { key } })
    for (const source of holders) {
      let value: StoredValue
      try {
        value = await this.read(source, key)
      } catch (err) {
        lastErr = err
        continue
      }
      try {
        const { meta, body } = value
        if (options.version !== undefined && meta.version !== options.version) return undefined
        // A copy keeps the value's origin: it is how the proposal that wrote it recognises it (register-rules).
        const put = options.as ?? { version: meta.version, created: meta.created, expires: meta.expires, contentType: meta.contentType, sha256: meta.sha256, ...(meta.origin !== undefined ? { origin: meta.origin } : {}) }
        return await this.put(target, key, Buffer.isBuffer(body) ? body : body as AsyncIterable<Uint8Array>, put, { sizeHint: meta.size })
      } finally {
        if (value.body instanceof Readable) value.body.destroy()
      }
    }
    throw lastErr
  }

  async tombstone (t: Target, key: Key, version: HlcTimestamp, deletedAt: number, options: { accept?: boolean, origin?: HlcTimestamp } = {}): Promise<ApplyResult> {
    if (t.isSelf) return this.stamped(await this.local.applyTombstone(key, version, deletedAt, options), key, version, options.accept)
    const extra = { ...(options.accept === true ? { accept: true } : {}), ...(options.origin !== undefined ? { origin: options.origin } : {}) }
    const r = await this.call(t, { type: STORE_TOMBSTONE, v: 1, key, version, deletedAt, ...extra }, ACK_TIMEOUT_MS)
    return this.applied(r.msg, t.peerId)
  }

  /** Sends a value's bytes to `t` to keep uncommitted (ReplicaStore.stage). */
  async stage (t: Target, key: Key, body: AsyncIterable<Uint8Array>, fields: StageFields, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<StageResult> {
    if (t.isSelf) return await this.local.stage(key, body, fields, options)
    const maxBytes = Number.isFinite(options.maxBytes) ? options.maxBytes ?? null : null
    const r = await this.call(t, { type: STORE_STAGE, v: 1, key, fields, maxBytes, sizeHint: options.sizeHint ?? null }, PUT_TIMEOUT_MS, { body, signal: options.signal })
    const m = parseReply(r.msg, 'store.staged', t.peerId)
    return { stageId: m.stageId, size: m.size, sha256: m.sha256 }
  }

  /** Commits a value staged at `t` (ReplicaStore.applyStaged). */
  async commit (t: Target, key: Key, stageId: string, put: ReplicaPut): Promise<ApplyResult> {
    if (t.isSelf) return this.stamped(await this.local.applyStaged(key, stageId, put), key, put.version, put.accept)
    const r = await this.call(t, { type: STORE_COMMIT, v: 1, key, stageId, put }, ACK_TIMEOUT_MS)
    return this.applied(r.msg, t.peerId)
  }

  /** Drops a value staged at `t`. */
  async unstage (t: Target, stageId: string): Promise<void> {
    if (t.isSelf) return await this.local.unstage(stageId)
    const r = await this.call(t, { type: STORE_UNSTAGE, v: 1, stageId }, ACK_TIMEOUT_MS)
    parseReply(r.msg, 'store.unstaged', t.peerId)
  }

  /** Paxos phase 1 at `t` (ReplicaStore.prepare); the ballot that comes back is folded into this peer's HLC. */
  async prepare (t: Target, key: Key, ballot: HlcTimestamp): Promise<PrepareResult> {
    if (t.isSelf) return await this.local.prepare(key, ballot)
    const r = await this.call(t, { type: STORE_PREPARE, v: 1, key, ballot }, ACK_TIMEOUT_MS)
    const m = parseReply(r.msg, 'store.promise', t.peerId)
    if (m.ballot !== null) this.local.observeVersion(m.ballot)
    return { promised: m.promised, ballot: m.ballot ?? undefined, entry: m.entry ?? undefined }
  }

  /** Asks `t` for a read lease on the ring of fingerprint `ring`, the last it granted this peer being `since` (LeaseGrants.grant). */
  async lease (t: Target, ring: string, since: string | null): Promise<GrantReply> {
    const r = await this.call(t, { type: STORE_LEASE, v: 1, ring, since }, ACK_TIMEOUT_MS)
    const m = parseReply(r.msg, 'store.lease.reply', t.peerId)
    return { granted: m.granted, id: m.id, ms: m.ms, continued: m.continued, changes: m.changes }
  }

  async list (address: string, options: ListOptions): Promise<ValueMeta[]> {
    const r = await this.transport.request(address, { type: STORE_LIST, v: 1, options: { ...options } }, { timeoutMs: ACK_TIMEOUT_MS })
    return parseReply(r.msg, 'store.list.reply', address).items
  }

  private applied (msg: Message, replica: string): ApplyResult {
    const m = parseReply(msg, 'store.applied', replica)
    if (m.entry !== null) this.local.observeVersion(m.entry.version)
    if (m.promised !== undefined) this.local.observeVersion(m.promised)
    return { applied: m.applied, entry: m.entry ?? undefined, ...(m.promised !== undefined ? { promised: m.promised } : {}), ...(m.leases !== undefined ? { leases: m.leases } : {}) }
  }

  /**
   * Tells replica `peerId` with the next request to it that `version` of
   * `key`, which it took, is chosen (ReplicationRequest.chosen). Kept for
   * at most LEARN_MAX_PENDING writes per replica; older ones are dropped
   * (the replica then finds out with its next read of the key).
   */
  learn (peerId: string, key: Key, version: HlcTimestamp): void {
    let out = this.learnt.get(peerId)
    if (out === undefined) this.learnt.set(peerId, out = [])
    if (out.length >= LEARN_MAX_PENDING) out.shift()
    out.push([key, version])
  }

  private async call (t: Target, msg: ReplicationRequest, timeoutMs: number, extra: { body?: AsyncIterable<Uint8Array>, signal?: AbortSignal } = {}): ReturnType<Transport['request']> {
    if (t.address === '') throw new PmzError('ERR_UNAVAILABLE', `no mesh address for ${t.peerId}`)
    const learnt = this.learnt.get(t.peerId)
    if (learnt !== undefined && learnt.length > 0) msg.chosen = learnt.splice(0, LEARN_PER_MESSAGE)
    return await this.transport.request(t.address, msg, { timeoutMs, ...extra })
  }
}

/** A whole value as a stream of one piece (none when empty). */
export async function * pieces (bytes: Uint8Array): AsyncIterable<Uint8Array> {
  if (bytes.length > 0) yield bytes
}

/** Bytes decoded from a message as a Buffer, without a copy. */
function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}


function corrupt (key: Key, peerId: string): PmzError {
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
