import type { Clock } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { ApplyResult, PutOptions, ReplicaPut, StageFields, StageResult } from '../types.js'
import { FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS, STREAM_PIECE_BYTES, STREAM_PIECE_WAIT_MS } from './constants.js'
import { FanoutSink, fanOut, inPiecesOf } from './fanout.js'
import type { Target } from './placement.js'
import { waitQuorum, type QuorumOutcome } from './quorum.js'
import type { ReplicaClient } from './replica-client.js'
import { sha256Hex } from '../../common/digest.js'
import type { Key } from '../key.js'

export interface ReplicaWriterComponents {
  client: ReplicaClient
  membership: Membership
  clock: Clock
  log: Logger
}

/**
 * Phase 2 of a write (see Register): sends one value to the live replicas of
 * a key (a small value whole in one message, any value as a fanned-out
 * stream) and waits for its write quorum.
 */
export class ReplicaWriter {
  private readonly client: ReplicaClient
  private readonly clock: Clock
  private readonly log: Logger

  constructor (private readonly c: ReplicaWriterComponents) {
    this.client = c.client
    this.clock = c.clock
    this.log = c.log
  }

  /** A small value, read whole: one message to each replica, the bytes inside it. */
  async whole (write: WholeWrite, options: { signal?: AbortSignal } = {}): Promise<Written> {
    const { key, put, bytes } = write
    const digest = put.sha256 ?? sha256Hex(bytes)
    const withSum = { ...put, sha256: digest }
    const { ops, outcome } = await this.replicate(write, options.signal, {
      send: async (t, signal) => await this.client.put(t, key, bytes, withSum, { signal }),
      refused: r => !r.applied
    })
    return { ops, outcome, size: bytes.length, sha256: digest }
  }

  /**
   * A value of any size, streamed once from the client and fanned out to
   * every replica with bounded memory, to be staged there (not committed:
   * see ReplicaStore.stage); resolves once W replicas staged it, with the
   * stage of each replica (a failed one rejects). The value's size and
   * sha256 are those the W replicas computed of what they received: the
   * proposer does not hash it a second time (a replica that is this peer
   * already does), and W replicas that disagree fail the write (ERR_CORRUPT).
   */
  async staged (write: StagedWrite, options: StagedOptions = {}): Promise<Staging> {
    const { key, fields, body, to, w } = write
    const sinks = to.map(t => new FanoutSink(this.clock, FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS, () => {
      this.log.warn({ key, replica: t.peerId }, 'replica stalled, dropped from the write')
      drop(t, new PmzError('ERR_TIMEOUT', 'replica stalled'))
    }))
    let drop: (t: Target, reason: Error) => void = () => {}
    let size = 0
    const { ops, outcome } = await this.replicate(write, options.signal, {
      send: async (t, signal) => {
        const i = to.indexOf(t)
        try {
          return await this.client.stage(t, key, sinks[i], fields, { maxBytes: options.maxBytes, sizeHint: options.sizeHint, signal })
        } finally {
          sinks[i].cancel()
        }
      },
      refused: () => false,
      feed: async (dropReplica, abortAll) => {
        drop = dropReplica
        try {
          size = await fanOut(inPiecesOf(body, STREAM_PIECE_BYTES, { clock: this.clock, waitMs: STREAM_PIECE_WAIT_MS }), sinks, { maxBytes: options.maxBytes ?? Infinity, minSinks: w, signal: options.signal })
        } catch (err) {
          // No replica saw a clean end of the body, so none can keep it.
          abortAll(err)
          throw err
        }
      },
      dropped: i => { sinks[i].cancel() }
    })
    if (!outcome.ok) return { targets: to, stages: ops, outcome, size, sha256: '' }
    const [first] = outcome.values
    if (outcome.values.some(v => v.sha256 !== first.sha256 || v.size !== size)) {
      const err = new PmzError('ERR_CORRUPT', 'the replicas received different bytes of the value', { details: { key } })
      return { targets: to, stages: ops, outcome: { ok: false, values: outcome.values, errors: [err] }, size, sha256: '' }
    }
    return { targets: to, stages: ops, outcome, size, sha256: first.sha256 }
  }

  /**
   * Runs `how.send` to every replica of `write.to` and waits for `write.w`
   * of them to apply it; the first refusal ends the wait (a newer ballot
   * there). A replica declared dead meanwhile is dropped at once (its call
   * aborted).
   */
  private async replicate<T> (write: WriteTo, signal: AbortSignal | undefined, how: Replication<T>): Promise<{ ops: Array<Promise<T>>, outcome: QuorumOutcome<T> }> {
    const { key, to, w } = write
    const { send, refused, feed, dropped } = how
    const controllers = to.map(() => new AbortController())
    const drop = (t: Target, reason: Error): void => {
      const i = to.indexOf(t)
      if (i < 0) return
      dropped?.(i)
      controllers[i].abort(reason)
    }
    const ops = to.map(async (t, i) => {
      const sig = signal === undefined ? controllers[i].signal : AbortSignal.any([controllers[i].signal, signal])
      try {
        return await send(t, sig)
      } catch (err) {
        this.log.debug({ err, key, replica: t.peerId }, 'replicated put failed')
        throw err
      }
    })
    for (const op of ops) op.catch(() => {}) // observed by waitQuorum below
    const offDeath = this.c.membership.on('peer:change', e => {
      if (e.type !== 'dead' && e.type !== 'leave') return
      const t = to.find(x => x.peerId === e.member.peerId)
      if (t !== undefined) drop(t, new PmzError('ERR_UNAVAILABLE', 'replica died during the write'))
    })
    try {
      await feed?.(drop, reason => { for (const ctl of controllers) ctl.abort(reason) })
      return { ops, outcome: await waitQuorum(ops, w, refused) }
    } finally {
      offDeath()
    }
  }
}

/** Where one replicated write goes: the key, the live replicas it is sent `to`, and the `w` of them that must apply it. */
export interface WriteTo {
  key: Key
  to: Target[]
  w: number
}

/** A small value sent whole: the record each replica writes (`put`) and its bytes. */
export interface WholeWrite extends WriteTo {
  put: ReplicaPut
  bytes: Buffer
}

/** A value streamed once from the client (`body`) to be staged on each replica with these `fields`. */
export interface StagedWrite extends WriteTo {
  fields: StageFields
  body: AsyncIterable<Uint8Array>
}

/** The client's limits of a streamed value (see PutOptions), and its signal. */
export type StagedOptions = Pick<PutOptions, 'maxBytes' | 'sizeHint' | 'signal'>

/** How ReplicaWriter.replicate sends to each replica and reads its answer. */
interface Replication<T> {
  send: (t: Target, signal: AbortSignal) => Promise<T>
  /** An answer that ends the wait at once (a newer ballot there). */
  refused: (result: T) => boolean
  /** Runs beside the calls (a streamed body) and must end before the quorum counts; gets what drops one replica and what aborts them all. */
  feed?: (drop: (t: Target, reason: Error) => void, abortAll: (reason: unknown) => void) => Promise<void>
  /** Learns which replica (its index in `to`) was dropped. */
  dropped?: (i: number) => void
}

/** A value staged on the replicas: each one's stage (`stages[i]` on `targets[i]`), W of them, and what the client sent (its sha256 as W replicas computed it, '' when they did not stage it). */
export interface Staging {
  targets: Target[]
  stages: Array<Promise<StageResult>>
  outcome: QuorumOutcome<StageResult>
  size: number
  sha256: string
}

/** A replicated write's calls, their quorum, and what the client sent. */
export interface Written {
  ops: Array<Promise<ApplyResult>>
  outcome: QuorumOutcome<ApplyResult>
  size: number
  sha256: string
}

/**
 * Reads a small body whole. Past `limit` bytes fails: ERR_TOO_LARGE when
 * that is over `maxBytes`, else the body was larger than its Content-Length
 * promised (ERR_BAD_REQUEST).
 */
export async function readWhole (body: AsyncIterable<Uint8Array>, limit: number, maxBytes: number | undefined): Promise<Buffer> {
  const parts: Uint8Array[] = []
  let size = 0
  for await (const piece of body) {
    size += piece.length
    if (size > (maxBytes ?? Infinity)) throw new PmzError('ERR_TOO_LARGE', 'value larger than maxsize', { details: { maxBytes } })
    if (size > limit) throw new PmzError('ERR_BAD_REQUEST', 'body longer than its declared length')
    parts.push(piece)
  }
  return parts.length === 1 && Buffer.isBuffer(parts[0]) ? parts[0] : Buffer.concat(parts)
}
