import { PmzError } from '../common/errors.js'
import { compareHlc, type HybridLogicalClock, type HlcTimestamp } from '../common/hlc.js'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Key } from './key.js'
import { isLive, originOf, toEntry, toMeta, type ValueRecord } from './record.js'
import type { StagedUploads } from './staged-uploads.js'
import type { Tables } from './tables.js'
import type { ApplyResult, KeyChange, PrepareResult, ReplicaPut, StageFields, StageResult } from './types.js'

/** What the acceptor needs of the store it belongs to. */
export interface AcceptorHost {
  tables: () => Tables
  hlc: HybridLogicalClock
  staged: StagedUploads
  clock: Clock
  log: Logger
  emit: (change: KeyChange) => void
}

/**
 * A replica's side of the per-key CASPaxos register (the proposer is
 * store/replication/register.ts): promises (phase 1), the check every
 * accept passes (phase 2), and values staged ahead of their accept. The
 * promises are kept in memory under a durable high-water mark (Promises),
 * and an accept is decided inside the commit that would apply it.
 */
export class Acceptor {
  constructor (private readonly h: AcceptorHost) {}

  /** Why a replicated write of `put` is not applied now (a record as new or newer, or for an accept a newer promise), or undefined. */
  refusal (key: Key, put: { version: HlcTimestamp, accept?: boolean }): ApplyResult | undefined {
    const t = this.h.tables()
    const current = t.meta.get(key)
    const entry = current === undefined ? undefined : toEntry(key, current)
    if (current !== undefined && compareHlc(current.version, put.version) >= 0) return { applied: false, entry }
    const promised = put.accept === true ? t.refusedBy(key, put.version) : undefined
    return promised === undefined ? undefined : { applied: false, entry, promised }
  }

  /**
   * Answers once no write of the key is under way (a promise must report
   * every value accepted before it) and, when it promises, once the
   * promises' durable high-water mark covers the ballot (see Promises): the
   * read of the record and the promise are then one synchronous step, so an
   * accept decided later sees the promise.
   */
  async prepare (key: Key, ballot: HlcTimestamp): Promise<PrepareResult> {
    this.h.hlc.update(ballot)
    const t = this.h.tables()
    for (;;) {
      const writing = t.writesOf(key)
      if (writing !== undefined) {
        await writing
        continue
      }
      const current = t.meta.get(key)
      const promised = t.promised.of(key)
      let highest = current?.version
      if (promised !== undefined && (highest === undefined || promised > highest)) highest = promised
      const entry = current === undefined ? undefined : toEntry(key, current)
      if (highest !== undefined && highest >= ballot) return { promised: false, ballot: highest, entry }
      if (!t.promised.covers(ballot)) {
        await t.promised.cover(ballot)
        continue
      }
      t.promised.promise(key, ballot)
      return { promised: true, ballot, entry }
    }
  }

  async stage (key: Key, body: AsyncIterable<Uint8Array>, fields: StageFields, options: { maxBytes?: number, sizeHint?: number, signal?: AbortSignal } = {}): Promise<StageResult> {
    const t = this.h.tables()
    t.space.admit()
    const upload = t.newUpload(key, options)
    try {
      const { record, last } = await upload.receive(body, options.signal, () => ({ version: '', contentType: fields.contentType, created: fields.created, expires: fields.expires }))
      if (fields.sha256 !== undefined && fields.sha256 !== record.sha256) {
        throw new PmzError('ERR_CORRUPT', 'staged content does not match its sha256', { details: { key } })
      }
      return { stageId: this.h.staged.add({ key, upload, record, last }), size: record.size, sha256: record.sha256 }
    } catch (err) {
      await upload.abort().catch(cleanupErr => this.h.log.error({ err: cleanupErr, key }, 'removing an aborted upload failed'))
      throw err
    }
  }

  async applyStaged (key: Key, stageId: string, put: ReplicaPut): Promise<ApplyResult> {
    const staged = this.h.staged.get(stageId)
    if (staged !== undefined && put.sha256 !== undefined && staged.record.sha256 !== put.sha256) {
      throw new PmzError('ERR_CORRUPT', 'the staged value does not match its sha256', { details: { key } })
    }
    this.h.hlc.update(put.version)
    const t = this.h.tables()
    const now = this.h.clock.now()
    const dropped: Uint8Array[] = []
    const out = await t.commit(() => {
      dropped.length = 0
      const refused = this.refusal(key, put)
      if (refused !== undefined) return { refused, record: undefined, wasLive: false, reversioned: false }
      const current = t.meta.get(key)
      if (put.origin !== undefined && current !== undefined && !current.deleted && originOf(toEntry(key, current)) === put.origin) {
        // This proposal's value is here already (an earlier ballot): it only takes the new version.
        const record: ValueRecord = { ...current, version: put.version, origin: put.origin }
        t.writeMeta(key, record, current)
        return { refused: undefined, record, wasLive: true, reversioned: true }
      }
      const s = this.h.staged.get(stageId)
      if (s === undefined || s.key !== key) return { refused: undefined, record: undefined, wasLive: false, reversioned: false }
      const record: ValueRecord = { ...s.record, version: put.version }
      if (put.origin !== undefined && put.origin !== put.version) record.origin = put.origin
      if (current !== undefined) t.dropRecord(key, current, dropped)
      t.putRecord(key, record, current, s.last, s.upload.markedPending)
      return { refused: undefined, record, wasLive: isLive(current, now), reversioned: false }
    }, key)
    if (out.refused !== undefined) return out.refused
    if (out.record === undefined) throw new PmzError('ERR_NOT_FOUND', 'the staged value is gone (expired or never received)', { details: { key } })
    if (out.reversioned) {
      await this.h.staged.discard(stageId)
    } else {
      this.h.staged.consumed(stageId)
      if (isLive(out.record, now)) this.h.emit({ type: 'put', meta: toMeta(key, out.record) })
      else if (out.wasLive) this.h.emit({ type: 'delete', key, reason: 'expired' })
    }
    await t.removeBlobs(dropped)
    return { applied: true, entry: toEntry(key, out.record) }
  }

  async unstage (stageId: string): Promise<void> {
    await this.h.staged.discard(stageId)
  }
}
