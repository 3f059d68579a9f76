import { createHash } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import type { ReplicaEntry } from '../record.js'
import type { ApplyResult, PutOptions, ReplicaPut, ReplicaStore } from '../types.js'
import { FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS } from './constants.js'
import { FanoutSink, fanOut } from './fanout.js'
import type { Target } from './placement.js'
import { waitQuorum, type QuorumOutcome } from './quorum.js'
import type { ReplicaClient } from './replica-client.js'
import { sha256Hex } from '../../common/digest.js'

export interface ReplicaWriterComponents {
  client: ReplicaClient
  /** This peer's store: versions for restores and compensations. */
  local: ReplicaStore
  membership: Membership
  clock: Clock
  log: Logger
}

/**
 * The write half of {@link ReplicatedStore}: sends one write to the live
 * replicas of a key (a small value whole in one message, any value as a
 * fanned-out stream) and waits for its quorum; undoes what a refused or
 * failed write left behind.
 */
export class ReplicaWriter {
  private readonly client: ReplicaClient
  private readonly local: ReplicaStore
  private readonly clock: Clock
  private readonly log: Logger

  constructor (private readonly c: ReplicaWriterComponents) {
    this.client = c.client
    this.local = c.local
    this.clock = c.clock
    this.log = c.log
  }

  /**
   * After a duplicate `add_key` some replica refused: the replicas that
   * missed the first value may have taken the new one, whose version is
   * newer and would spread. The first value goes back to every live replica
   * under a version newer still (same bytes, created, expiry), so it stays.
   */
  async restore (key: string, refused: ReplicaPut, first: ReplicaEntry, live: Target[], ops: Array<Promise<ApplyResult>>): Promise<void> {
    const results = await Promise.allSettled(ops)
    const took = live.filter((_, i) => {
      const r = results[i]
      return r.status === 'fulfilled' && r.value.applied && r.value.entry?.version === refused.version
    })
    if (took.length === 0) return
    const holders = live.filter((_, i) => {
      const r = results[i]
      return r.status === 'fulfilled' && r.value.conflict === true && r.value.entry?.version === first.version
    })
    const restored: ReplicaPut = { version: this.local.nextVersion(), created: first.created, expires: first.expires, contentType: first.contentType, sha256: first.sha256 }
    const copy = async (t: Target): Promise<boolean> => {
      try {
        await this.client.copy(key, holders, t, { as: restored })
        return true
      } catch (err) {
        this.log.warn({ err, key, target: t.peerId }, 'restoring the first value failed')
        return false
      }
    }
    const copied = await Promise.all(live.map(copy))
    if (copied.some(Boolean)) {
      this.log.info({ key, replicas: took.map(t => t.peerId) }, 'duplicate add_key refused; the first value restored where the second had landed')
      return
    }
    this.log.error({ key, replicas: took.map(t => t.peerId) }, 'a refused duplicate add_key could not be undone; the second value may win')
  }

  /** A small value, read whole: one message to each replica, the bytes inside it. */
  async whole (key: string, put: ReplicaPut, bytes: Buffer, live: Target[], w: number, all: boolean, signal: AbortSignal | undefined): Promise<Written> {
    const digest = sha256Hex(bytes)
    const withSum = { ...put, sha256: digest }
    const { ops, outcome } = await this.replicate(key, live, w, all, signal, async (t, sig) => await this.client.put(t, key, bytes, withSum, { signal: sig }))
    return { ops, outcome, size: bytes.length, sha256: digest }
  }

  /** A value of any size, streamed once from the client and fanned out to every replica with bounded memory. */
  async streamed (key: string, put: ReplicaPut, body: AsyncIterable<Uint8Array>, live: Target[], w: number, all: boolean, options: PutOptions): Promise<Written> {
    const sinks = live.map(t => new FanoutSink(this.clock, FANOUT_HIGH_WATER_BYTES, SINK_STALL_MS, () => {
      this.log.warn({ key, replica: t.peerId }, 'replica stalled, dropped from the write')
      drop(t, new PmzError('ERR_TIMEOUT', 'replica stalled'))
    }))
    let drop: (t: Target, reason: Error) => void = () => {}
    const hash = createHash('sha256')
    let size = 0
    const { ops, outcome } = await this.replicate(key, live, w, all, options.signal, async (t, signal) => {
      const i = live.indexOf(t)
      try {
        return await this.client.put(t, key, sinks[i], put, { maxBytes: options.maxBytes, sizeHint: options.sizeHint, signal })
      } finally {
        sinks[i].cancel()
      }
    }, async (dropReplica, abortAll) => {
      drop = dropReplica
      try {
        size = await fanOut(hashing(body, hash), sinks, { maxBytes: options.maxBytes ?? Infinity, minSinks: w, signal: options.signal })
      } catch (err) {
        // No replica saw a clean end of the body, so none can commit it.
        abortAll(err)
        throw err
      }
    }, i => { sinks[i].cancel() })
    return { ops, outcome, size, sha256: hash.digest('hex') }
  }

  /**
   * Runs `send` to every live replica and waits for W of them (`all`: for
   * every one to answer or fail, W succeeding). A replica
   * declared dead meanwhile is dropped at once (its call aborted). `feed`,
   * when given, runs beside the calls (a streamed body) and must end before
   * the quorum counts; `dropped(i)` learns which replica was dropped.
   */
  private async replicate (
    key: string, live: Target[], w: number, all: boolean, signal: AbortSignal | undefined,
    send: (t: Target, signal: AbortSignal) => Promise<ApplyResult>,
    feed?: (drop: (t: Target, reason: Error) => void, abortAll: (reason: unknown) => void) => Promise<void>,
    dropped?: (i: number) => void
  ): Promise<{ ops: Array<Promise<ApplyResult>>, outcome: QuorumOutcome<ApplyResult> }> {
    const controllers = live.map(() => new AbortController())
    const drop = (t: Target, reason: Error): void => {
      const i = live.indexOf(t)
      if (i < 0) return
      dropped?.(i)
      controllers[i].abort(reason)
    }
    const ops = live.map(async (t, i) => {
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
      const t = live.find(x => x.peerId === e.member.peerId)
      if (t !== undefined) drop(t, new PmzError('ERR_UNAVAILABLE', 'replica died during the write'))
    })
    try {
      await feed?.(drop, reason => { for (const ctl of controllers) ctl.abort(reason) })
      return { ops, outcome: await waitQuorum(ops, w, r => r.conflict === true, all) }
    } finally {
      offDeath()
    }
  }

  /** After a failed write: a newer tombstone to every live replica, so no partial copy stays visible (LWW drops a copy still landing). */
  async compensate (key: string, live: Target[]): Promise<void> {
    const version = this.local.nextVersion()
    const now = this.clock.now()
    const results = await Promise.allSettled(live.map(async t => await this.client.tombstone(t, key, version, now)))
    const failed = results.filter(r => r.status === 'rejected').length
    if (failed > 0) this.log.warn({ key, failed }, 'compensating tombstone did not reach every replica')
  }
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

async function * hashing (body: AsyncIterable<Uint8Array>, hash: ReturnType<typeof createHash>): AsyncIterable<Uint8Array> {
  for await (const piece of body) {
    hash.update(piece)
    yield piece
  }
}
