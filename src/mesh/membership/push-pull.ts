import type { Clock, Timer } from '../../common/clock.js'
import { badRequest, isPmzError, PmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { IncomingRequest, Transport } from '../transport/types.js'
import { PUSH_PULL_SCALE_THRESHOLD, SWIM_VERSION } from './constants.js'
import type { MemberTable } from './member-table.js'
import { parseSwimMessage, type Parsed, type SyncMessage, type SyncReplyMessage, type WireMember } from './messages.js'
import { pushPullIntervalMs, toFullWire } from './rules.js'

/** What the full-state exchange needs from the membership around it. */
export interface SyncHost {
  readonly table: MemberTable
  readonly running: boolean
  /** Merges one member of a full state (dead ones count as suspect). */
  apply(u: WireMember, viaSync: true): void
  refused(p: Exclude<Parsed, { ok: true }>, address: string): void
  touch(peerId: string): void
}

export interface PushPullInit { cluster: string, syncTimeoutMs: number, pushPullIntervalMs: number, joinFollowUpMs: number, repairCooldownMs: number }

/**
 * Full state exchanges (memberlist's push-pull): a join sends this peer's
 * whole view to an address and merges the answer; now and then the same
 * happens with one random member, which repairs whatever gossip missed.
 * The answer holds the answering peer's view before the merge, so a
 * restarted peer learns what others held of it and refutes.
 */
export class PushPull {
  private readonly inFlight = new Set<string>()
  private lastSyncAt: number
  private lastRepairAt = 0
  private followUp: Timer | undefined

  constructor (
    private readonly host: SyncHost,
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly init: PushPullInit
  ) {
    this.lastSyncAt = clock.now()
  }

  /** The current period between exchanges: longer in large clusters (memberlist's pushPullScale). */
  intervalMs (): number {
    return pushPullIntervalMs(this.init.pushPullIntervalMs, this.host.table.live, PUSH_PULL_SCALE_THRESHOLD)
  }

  /** The periodic round: one random alive member, unless a full exchange happened in the last half period. */
  round (): void {
    if (this.clock.now() - this.lastSyncAt < this.intervalMs() / 2) return
    const [peer] = this.host.table.pick(1, r => r.state === 'alive')
    if (peer !== undefined) this.sync(peer.address, false)
  }

  /**
   * A peer this one holds unknown, dead or left is talking to it: the views
   * have drifted apart (an island of peers that joined through a peer whose
   * own join had failed, a healed partition). One exchange with that peer
   * repairs them; at most one such repair per cooldown, skipped right after
   * any other exchange.
   */
  repair (address: string): void {
    const now = this.clock.now()
    if (this.host.table.live > 1 && now - Math.max(this.lastSyncAt, this.lastRepairAt) < this.init.repairCooldownMs) return
    this.lastRepairAt = now
    this.sync(address, false)
  }

  /** Exchanges full states with `address`; failures are logged and dropped (discovery proposes again). */
  sync (address: string, join: boolean): void {
    if (address === this.host.table.self.address || this.inFlight.has(address)) return
    this.inFlight.add(address)
    this.exchange(address, join)
      .catch(err => { this.log.warn({ err, address }, 'sync failed') })
      .finally(() => { this.inFlight.delete(address) })
  }

  /** Answers a `swim.sync` request. */
  answer (req: IncomingRequest): SyncReplyMessage {
    if (!this.host.running) throw new PmzError('ERR_SHUTTING_DOWN', 'membership stopped')
    const parsed = parseSwimMessage(req.msg, this.init.cluster)
    if (!parsed.ok) {
      this.host.refused(parsed, req.from.address)
      if (parsed.foreign) throw new PmzError('ERR_CONFLICT', 'cluster name differs', { details: { cluster: this.init.cluster } })
      throw badRequest(parsed.reason)
    }
    if (parsed.msg.type !== 'swim.sync') throw badRequest('not a sync request')
    const reply: SyncReplyMessage = { type: 'swim.sync-reply', v: SWIM_VERSION, cluster: this.init.cluster, members: this.fullState() }
    for (const u of parsed.msg.members) this.host.apply(u, true)
    this.host.touch(req.from.peerId)
    this.lastSyncAt = this.clock.now()
    if (parsed.msg.join) this.log.debug({ peerId: req.from.peerId, address: req.from.address }, 'join answered')
    return reply
  }

  private async exchange (address: string, join: boolean): Promise<void> {
    try {
      const msg: SyncMessage = { type: 'swim.sync', v: SWIM_VERSION, cluster: this.init.cluster, join, members: this.fullState() }
      const reply = await this.transport.request(address, msg, { timeoutMs: this.init.syncTimeoutMs })
      if (!this.host.running) return
      const parsed = parseSwimMessage(reply.msg, this.init.cluster)
      if (!parsed.ok) { this.host.refused(parsed, address); return }
      if (parsed.msg.type !== 'swim.sync-reply') { this.log.debug({ address, type: parsed.msg.type }, 'unexpected sync reply'); return }
      for (const u of parsed.msg.members) this.host.apply(u, true)
      this.lastSyncAt = this.clock.now()
      // Peers joining at the same time miss each other's alive updates when those finish spreading before
      // they are known; a second exchange a few gossip rounds later catches them up (memberlist waits for push-pull).
      if (join && this.followUp === undefined && this.init.joinFollowUpMs > 0) {
        this.followUp = this.clock.setTimeout(() => {
          this.followUp = undefined
          if (!this.host.running) return
          const [peer] = this.host.table.pick(1, r => r.state === 'alive' && r.address !== address)
          if (peer !== undefined) this.sync(peer.address, false)
        }, this.init.joinFollowUpMs)
      }
    } catch (err) {
      const cluster = isPmzError(err, 'ERR_CONFLICT') ? err.details?.cluster : undefined
      if (typeof cluster === 'string') this.host.refused({ ok: false, foreign: true, cluster }, address)
      else this.log.debug({ err, address }, join ? 'join failed' : 'push-pull failed')
    }
  }

  stop (): void {
    this.followUp?.cancel()
    this.followUp = undefined
  }

  private fullState (): WireMember[] { return this.host.table.all().map(toFullWire) }
}
