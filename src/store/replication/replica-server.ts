import { Readable } from 'node:stream'
import { isPmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Message, Reply, RequestHandler, Transport } from '../../mesh/transport/index.js'
import type { ApplyResult, ReplicaStore } from '../types.js'
import { metaToEntry } from '../record.js'
import { INLINE_MAX_BYTES } from './constants.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Key } from '../key.js'
import type { LeaseGrants } from './leases.js'
import type { ReadAnswer } from './reader.js'
import { pieces } from './replica-client.js'
import { STORE_COMMIT, STORE_ENTRY, STORE_FETCH, STORE_LIST, STORE_PREPARE, STORE_PUT, STORE_READ, STORE_STAGE, STORE_TOMBSTONE, STORE_UNSTAGE, STORE_LEASE, parseRequest, type ReplicationReply, type ReplicationRequest } from './messages.js'

/**
 * A read of a key through this peer, as one of its replicas
 * (ReplicatedStore): the key's newest record, and its value when live and
 * held here; undefined when this peer is no replica of the key.
 */
export type ReadHere = (key: Key) => Promise<ReadAnswer | undefined>

/** This peer's read leases as the replica server sees them: the grants it gave, how it reads, what it learns of its copies. */
export interface ServedLeases {
  grants: LeaseGrants
  read: ReadHere
  /** Promised another proposer a ballot for a key. */
  promising: (key: Key, ballot: HlcTimestamp) => void
  /** Took a write (a proposal's accept), not known chosen yet. */
  accepting: (key: Key, version: HlcTimestamp) => void
  /** A proposer says the write it sent is chosen (ReplicationRequest.chosen). */
  learnt: (chosen: Array<[Key, HlcTimestamp]>) => void
}

/**
 * Answers the `store.*` requests of other peers from the local store: a
 * replica's record, its bytes, replicated writes and deletes, its key list.
 * Returns the function that removes the handlers.
 */
export function serveReplica (transport: Transport, local: ReplicaStore, leases: ServedLeases, log: Logger): () => void {
  const { grants, read } = leases
  /** Every request may carry the writes its sender learnt are chosen: learnt first (a read of one of them then answers alone), once the whole request is checked. */
  const handle = (type: ReplicationRequest['type'], fn: RequestHandler): () => void => transport.handle(type, async req => {
    if (req.msg.chosen !== undefined) leases.learnt(parseRequest(req.msg, type).chosen ?? [])
    return await fn(req)
  })
  const reply = (r: ReplicationReply): Message => r
  const applied = (out: ApplyResult): Message =>
    reply({ type: 'store.applied', v: 1, applied: out.applied, entry: out.entry ?? null, ...(out.promised !== undefined ? { promised: out.promised } : {}), ...(out.leases !== undefined ? { leases: out.leases } : {}) })
  /** An accept (a proposal's phase 2) reports the read leases granted to the key's other replicas. */
  const accepted = (out: ApplyResult, key: Key, version: HlcTimestamp, accept: boolean | undefined, from: string): Message => {
    if (accept !== true) return applied(out)
    if (out.applied) leases.accepting(key, version)
    return applied(grants.stamp(out, key, version, from))
  }

  const offs = [
    handle(STORE_ENTRY, async req => {
      const { key } = parseRequest(req.msg, STORE_ENTRY)
      return reply({ type: 'store.entry.reply', v: 1, entry: (await local.entry(key)) ?? null })
    }),
    handle(STORE_FETCH, async req => {
      const { key, read: asRead } = parseRequest(req.msg, STORE_FETCH)
      const got = asRead === true ? await read(key) : undefined
      if (got !== undefined) {
        const body = got.value?.body
        if (body instanceof Readable) body.destroy()
        const bytes = Buffer.isBuffer(body) && body.length <= INLINE_MAX_BYTES ? body : null
        const entry = got.value !== undefined ? metaToEntry(got.value.meta) : got.entry ?? null
        return reply({ type: 'store.fetch.reply', v: 1, entry, bytes, read: true })
      }
      const entry = await local.entry(key)
      if (entry === undefined || entry.deleted || entry.size > INLINE_MAX_BYTES) return reply({ type: 'store.fetch.reply', v: 1, entry: entry ?? null, bytes: null })
      try {
        const { meta, body } = await local.get(key)
        // The value read is the one answered for, even if a write landed between the two reads.
        if (Buffer.isBuffer(body)) return reply({ type: 'store.fetch.reply', v: 1, entry: metaToEntry(meta), bytes: body })
        if (body instanceof Readable) body.destroy()
        return reply({ type: 'store.fetch.reply', v: 1, entry: metaToEntry(meta), bytes: null })
      } catch (err) {
        if (!isPmzError(err, 'ERR_NOT_FOUND')) throw err // expired or deleted meanwhile: answer with the record
        return reply({ type: 'store.fetch.reply', v: 1, entry: (await local.entry(key)) ?? null, bytes: null })
      }
    }),
    handle(STORE_READ, async (req): Promise<Reply> => {
      const { key } = parseRequest(req.msg, STORE_READ)
      const { meta, body } = await local.get(key)
      if (Buffer.isBuffer(body) && body.length <= INLINE_MAX_BYTES) return { msg: reply({ type: 'store.value', v: 1, meta, bytes: body }) }
      const bytes = Buffer.isBuffer(body) ? pieces(body) : body
      return { msg: reply({ type: 'store.value', v: 1, meta }), body: bytes }
    }),
    handle(STORE_PUT, async req => {
      const { key, put, maxBytes, sizeHint, bytes } = parseRequest(req.msg, STORE_PUT)
      const inline = bytes !== undefined && bytes !== null
      const body = inline ? pieces(bytes) : req.body ?? pieces(new Uint8Array(0))
      // An inline value is already here: nothing to abort (and req.signal would build an AbortController per write).
      const out = await local.applyPut(key, body, put, { maxBytes: maxBytes ?? undefined, sizeHint: sizeHint ?? undefined, signal: inline ? undefined : req.signal })
      log.debug({ key, version: put.version, applied: out.applied, from: req.from.peerId }, 'replicated put')
      return accepted(out, key, put.version, put.accept, req.from.peerId)
    }),
    handle(STORE_TOMBSTONE, async req => {
      const { key, version, deletedAt, accept, origin } = parseRequest(req.msg, STORE_TOMBSTONE)
      return accepted(await local.applyTombstone(key, version, deletedAt, { accept: accept === true, origin }), key, version, accept, req.from.peerId)
    }),
    handle(STORE_PREPARE, async req => {
      const { key, ballot } = parseRequest(req.msg, STORE_PREPARE)
      const out = await local.prepare(key, ballot)
      if (out.promised) leases.promising(key, ballot)
      return reply({ type: 'store.promise', v: 1, promised: out.promised, ballot: out.ballot ?? null, entry: out.entry ?? null })
    }),
    handle(STORE_STAGE, async req => {
      const { key, fields, maxBytes, sizeHint } = parseRequest(req.msg, STORE_STAGE)
      const out = await local.stage(key, req.body ?? pieces(new Uint8Array(0)), fields, { maxBytes: maxBytes ?? undefined, sizeHint: sizeHint ?? undefined, signal: req.signal })
      return reply({ type: 'store.staged', v: 1, ...out })
    }),
    handle(STORE_COMMIT, async req => {
      const { key, stageId, put } = parseRequest(req.msg, STORE_COMMIT)
      return accepted(await local.applyStaged(key, stageId, put), key, put.version, put.accept, req.from.peerId)
    }),
    handle(STORE_UNSTAGE, async req => {
      const { stageId } = parseRequest(req.msg, STORE_UNSTAGE)
      await local.unstage(stageId)
      return reply({ type: 'store.unstaged', v: 1 })
    }),
    handle(STORE_LIST, async req => {
      const { options } = parseRequest(req.msg, STORE_LIST)
      return reply({ type: 'store.list.reply', v: 1, items: await local.list(options) })
    }),
    handle(STORE_LEASE, async req => {
      const { ring, since } = parseRequest(req.msg, STORE_LEASE)
      return reply({ type: 'store.lease.reply', v: 1, ...grants.grant(req.from.peerId, ring, since) })
    })
  ]
  return () => { for (const off of offs) off() }
}
