import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import type { Clock, Timer } from '../../common/clock.js'
import { compareHlc, type HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership } from '../../mesh/membership/index.js'
import { isLiveEntry, type ReplicaEntry } from '../record.js'
import { HINT_BATCH, HINT_CONCURRENCY, HINT_DELIVERY_DELAY_MS, HINT_INTERVAL_MS, MAX_HINTS_PER_TARGET } from './constants.js'
import type { Placement, Target } from './placement.js'
import { newestOf, type SurveyAnswer } from './read-repair.js'
import type { ReplicaClient } from './replica-client.js'
import { storedKey, type Key } from '../key.js'

/** A write a replica missed: the version its coordinator acknowledged without it. */
export interface Hint {
  target: string
  key: Key
  version: HlcTimestamp
  /** When the hint was recorded, ms since the epoch. */
  at: number
}

interface HintRecord { version: HlcTimestamp, at: number }

export interface HintedHandoffComponents {
  client: ReplicaClient
  placement: Placement
  membership: Membership
  clock: Clock
  log: Logger
}

export interface HintedHandoffInit {
  /** Directory of the hints' own LMDB environment. */
  dir: string
  /** Hints older than this are dropped (the tombstone grace: past it a delete could no longer be ordered). */
  maxAgeMs: number
  /** @default MAX_HINTS_PER_TARGET */
  maxPerTarget?: number
  /** Period of the delivery pass over every target with hints, ms. @default HINT_INTERVAL_MS */
  intervalMs?: number
}

const SEP = '\u0000'

/**
 * Hinted handoff (Dynamo §4.6): when a write or delete is acknowledged
 * without some replica of the key's preference list (dead, unreachable,
 * stalled), the coordinator records a hint (target, key, version) in an
 * LMDB environment of its own. When membership reports the target alive
 * again, and on a periodic pass, the hints are delivered: the newest record
 * of the key is read from the other replicas (this peer's own first) and
 * pushed to the target with the replica ops, which apply only what is newer;
 * the hint is removed once the target holds that version or a newer one.
 *
 * Bounded: at most `maxPerTarget` hints per target (past it anti-entropy
 * has to catch up), HINT_CONCURRENCY deliveries at once and one target at a
 * time, hints older than the tombstone grace dropped.
 */
export class HintedHandoff {
  private env: RootDatabase | undefined
  private db!: Database<HintRecord, string>
  private readonly counts = new Map<string, number>()
  private readonly maxPerTarget: number
  private readonly intervalMs: number
  private timer: Timer | undefined
  private readonly soon = new Map<string, Timer>()
  private running: Promise<void> | undefined
  private readonly queued = new Set<string>()
  private off: (() => void) | undefined
  private overflowWarned = new Set<string>()
  /** Hints delivered (target acknowledged the version) and dropped (too old, over the cap, nothing to deliver). */
  delivered = 0
  dropped = 0

  constructor (private readonly c: HintedHandoffComponents, private readonly init: HintedHandoffInit) {
    this.maxPerTarget = init.maxPerTarget ?? MAX_HINTS_PER_TARGET
    this.intervalMs = init.intervalMs ?? HINT_INTERVAL_MS
  }

  async start (): Promise<void> {
    if (this.env !== undefined) return
    mkdirSync(this.init.dir, { recursive: true })
    this.env = open({ path: this.init.dir, maxDbs: 2, eventTurnBatching: false }) // no batch promise left unawaited when a commit fails (a full disk)
    this.db = this.env.openDB({ name: 'hints', encoding: 'msgpack' })
    this.counts.clear()
    for (const k of this.db.getKeys()) {
      const target = k.slice(0, k.indexOf(SEP))
      this.counts.set(target, (this.counts.get(target) ?? 0) + 1)
    }
    this.off = this.c.membership.on('peer:change', e => {
      if ((e.type === 'alive' || e.type === 'join') && (this.counts.get(e.member.peerId) ?? 0) > 0) this.deliverSoon(e.member.peerId)
    })
    this.timer = this.c.clock.setInterval(() => { for (const t of this.pendingTargets()) this.enqueue(t) }, this.intervalMs)
    for (const t of this.pendingTargets()) this.deliverSoon(t)
  }

  async stop (): Promise<void> {
    if (this.env === undefined) return
    this.off?.()
    this.timer?.cancel()
    for (const t of this.soon.values()) t.cancel()
    this.soon.clear()
    this.queued.clear()
    await this.running
    const env = this.env
    this.env = undefined
    await env.close()
  }

  /** Targets with hints waiting. */
  pendingTargets (): string[] {
    return [...this.counts].filter(([, n]) => n > 0).map(([t]) => t)
  }

  /** Hints waiting in all, or for one target. */
  pending (target?: string): number {
    if (target !== undefined) return this.counts.get(target) ?? 0
    let n = 0
    for (const c of this.counts.values()) n += c
    return n
  }

  /**
   * After an acknowledged write or delete of `key` at `version`: hints for
   * every replica of `targets` that was skipped (not alive), recorded before
   * this resolves; and for every replica of `live` whose operation fails,
   * now or later (`ops[i]` belongs to `live[i]`).
   */
  async afterWrite (key: Key, version: HlcTimestamp, targets: Target[], live: Target[], ops: Array<Promise<unknown>>): Promise<void> {
    ops.forEach((op, i) => {
      const t = live[i]
      if (t.isSelf) return
      op.catch(async () => await this.record(t.peerId, key, version)).catch(err => this.c.log.warn({ err, key, target: t.peerId }, 'recording a hint failed'))
    })
    const skipped = targets.filter(t => !t.isAlive && !t.isSelf)
    // The write is committed on W replicas already: a hint that cannot be recorded is logged, never fails it.
    await Promise.all(skipped.map(async t => {
      await this.record(t.peerId, key, version).catch(err => this.c.log.warn({ err, key, target: t.peerId }, 'recording a hint failed'))
    }))
  }

  /** Records (or raises to a newer version) the hint that `target` misses `version` of `key`. */
  async record (target: string, key: Key, version: HlcTimestamp): Promise<void> {
    if (this.env === undefined) return
    const id = `${target}${SEP}${key}`
    const at = this.c.clock.now()
    const outcome = await this.db.transaction(() => {
      const held = this.db.get(id)
      if (held !== undefined) {
        if (compareHlc(held.version, version) >= 0) return 'kept'
        this.db.put(id, { version, at })
        return 'raised'
      }
      if ((this.counts.get(target) ?? 0) >= this.maxPerTarget) return 'full'
      this.db.put(id, { version, at })
      this.counts.set(target, (this.counts.get(target) ?? 0) + 1)
      return 'added'
    })
    if (outcome === 'full') {
      this.dropped++
      if (!this.overflowWarned.has(target)) {
        this.overflowWarned.add(target)
        this.c.log.warn({ target, max: this.maxPerTarget }, 'hints for a replica at their cap; further misses wait for anti-entropy')
      }
    }
    // A target that is alive again by now (a failed op of a live replica) gets the hint promptly.
    if (outcome !== 'kept' && this.isAlive(target)) this.deliverSoon(target)
  }

  /** Hints for one target, in key order (for tests and admin views). */
  hintsFor (target: string, limit = 1000): Hint[] {
    if (this.env === undefined) return []
    const out: Hint[] = []
    for (const { key: id, value } of this.db.getRange({ start: `${target}${SEP}`, end: `${target}\u0001`, limit })) {
      out.push({ target, key: storedKey(id.slice(target.length + 1)), version: value.version, at: value.at })
    }
    return out
  }

  /** Delivers every hint of `target` now (resolves once the pass has ended). */
  async deliver (target: string): Promise<void> {
    this.enqueue(target)
    while (this.running !== undefined) await this.running
  }

  private deliverSoon (target: string): void {
    if (this.env === undefined || this.soon.has(target)) return
    // A peer just back needs a moment before its mesh socket answers.
    this.soon.set(target, this.c.clock.setTimeout(() => {
      this.soon.delete(target)
      this.enqueue(target)
    }, HINT_DELIVERY_DELAY_MS))
  }

  /** One target at a time, in the order asked for. */
  private enqueue (target: string): void {
    if (this.env === undefined) return
    this.queued.add(target)
    if (this.running !== undefined) return
    this.running = (async () => {
      try {
        while (this.queued.size > 0 && this.env !== undefined) {
          const next = this.queued.values().next().value as string
          this.queued.delete(next)
          await this.deliverTarget(next).catch(err => this.c.log.warn({ err, target: next }, 'hint delivery failed'))
        }
      } finally {
        this.running = undefined
      }
    })()
  }

  private isAlive (peerId: string): boolean {
    return this.c.membership.get(peerId)?.state === 'alive'
  }

  private async deliverTarget (target: string): Promise<void> {
    let after = `${target}${SEP}`
    let sent = 0
    for (;;) {
      if (this.env === undefined) return
      const member = this.c.membership.get(target)
      // Gone for good: its keys are rebalancing's to re-replicate.
      if (member?.state === 'left') {
        await this.dropAll(target)
        return
      }
      // Not (yet) known, e.g. right after this peer restarted, or down: the hints wait.
      if (member === undefined || member.state !== 'alive' || member.address === '') return
      const t: Target = { peerId: target, address: member.address, isSelf: false, isAlive: true, http: member.meta.http }
      const batch: Hint[] = []
      for (const { key: id, value } of this.db.getRange({ start: after, end: `${target}\u0001`, limit: HINT_BATCH })) {
        if (id === after) continue
        batch.push({ target, key: storedKey(id.slice(target.length + 1)), version: value.version, at: value.at })
      }
      if (batch.length === 0) break
      after = `${target}${SEP}${batch[batch.length - 1].key}`
      let failed = 0
      let next = 0
      await Promise.all(Array.from({ length: HINT_CONCURRENCY }, async () => {
        while (next < batch.length && failed === 0) {
          const h = batch[next++]
          try {
            await this.deliverOne(t, h)
            sent++
          } catch (err) {
            failed++
            this.c.log.debug({ err, target, key: h.key }, 'hint not delivered')
          }
        }
      }))
      // The target stopped answering: the rest waits for the next pass or its return.
      if (failed > 0) break
      if (batch.length < HINT_BATCH) break
    }
    if (sent > 0) this.c.log.info({ target, delivered: sent, left: this.pending(target) }, 'hints delivered')
  }

  private async deliverOne (t: Target, h: Hint): Promise<void> {
    if (h.at < this.c.clock.now() - this.init.maxAgeMs) {
      await this.remove(h, true)
      return
    }
    const held = await this.c.client.entry(t, h.key)
    if (held !== undefined && compareHlc(held.version, h.version) >= 0) {
      await this.remove(h)
      return
    }
    // The newest record among the other live replicas (this peer's own first), the hinted version or newer.
    const sources = this.c.placement.readOrder(h.key).filter(s => s.peerId !== t.peerId)
    const settled = await Promise.allSettled(sources.map(async s => await this.c.client.entry(s, h.key)))
    const answers: SurveyAnswer[] = []
    settled.forEach((s, i) => { if (s.status === 'fulfilled') answers.push({ target: sources[i], entry: s.value }) })
    const newest = newestOf(answers)
    if (newest === undefined || compareHlc(newest.version, h.version) < 0) {
      // Nobody answering holds the hinted version (swept, or its holders are down): retry later unless nothing is left to find.
      if (answers.length === sources.length) await this.remove(h, true)
      else throw new Error('hinted version unavailable')
      return
    }
    if (held !== undefined && compareHlc(held.version, newest.version) >= 0) {
      await this.remove(h)
      return
    }
    let entry: ReplicaEntry | undefined
    if (newest.deleted) {
      entry = (await this.c.client.tombstone(t, h.key, newest.version, newest.deletedAt ?? this.c.clock.now(), { origin: newest.origin })).entry
    } else if (isLiveEntry(newest, this.c.clock.now())) {
      const holders = answers.filter(a => a.entry?.version === newest.version).map(a => a.target)
      entry = (await this.c.client.copy(h.key, holders, t))?.entry
    } else {
      await this.remove(h, true) // expired: every replica drops it on its own
      return
    }
    if (entry === undefined || compareHlc(entry.version, h.version) < 0) throw new Error('target did not take the hinted version')
    await this.remove(h)
  }



  /** Removes a hint unless a newer one for the same key was recorded meanwhile. */
  private async remove (h: Hint, drop = false): Promise<void> {
    if (this.env === undefined) return
    const id = `${h.target}${SEP}${h.key}`
    const removed = await this.db.transaction(() => {
      const held = this.db.get(id)
      if (held === undefined || compareHlc(held.version, h.version) > 0) return false
      this.db.remove(id)
      return true
    })
    if (!removed) return
    this.counts.set(h.target, Math.max(0, (this.counts.get(h.target) ?? 1) - 1))
    if (drop) this.dropped++
    else this.delivered++
  }

  private async dropAll (target: string): Promise<void> {
    for (const h of this.hintsFor(target, Infinity)) await this.remove(h, true)
    this.counts.delete(target)
  }
}
