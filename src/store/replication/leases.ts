import type { Clock } from '../../common/clock.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Key } from '../key.js'
import type { ApplyResult } from '../types.js'
import {
  ABSENT, ANY_HOLDER, LEASE_MAX_CHANGES, LEASE_MAX_MARKS, LEASE_MS, LEASE_RENEW_MS, LEASE_RETRY_MS,
  LEASE_RETAIN_MS, acceptReports, answersAlone, heldUntil, leaseDeadlines, markChosen, markWritten, type Grant, type LeaseReport, type Mark
} from './lease-rules.js'
import type { Target } from './placement.js'

/** The ring as the leases see it. */
export interface LeaseRing {
  /** Changes whenever placement does (Placement.fingerprint). */
  fingerprint: () => string
  /** The key's replicas (Placement.preferenceList). */
  preferenceList: (key: Key) => string[]
}

/** A grantor's answer to a request for a lease. */
export interface GrantReply {
  granted: boolean
  /** This grant's id, unique across the grantor's restarts: the holder names it when it asks again (`since`). */
  id: string
  /** How long the grant lasts, ms. */
  ms: number
  /** The grantor noted every write since the grant before this one (LEASE_RETAIN_MS): `changes` is each the holder may lack. */
  continued: boolean
  /** Writes the grantor accepted from other proposers since its last grant to this holder, [key, version]. */
  changes: Array<[Key, HlcTimestamp]>
}

interface Granted extends Grant {
  id: string
  changes: Array<[Key, HlcTimestamp]>
  /** More changes than LEASE_MAX_CHANGES came: the next grant is not `continued`. */
  overflow: boolean
}

/**
 * The grantor's side (every volume peer): the leases it granted other
 * replicas, reported with every write it accepts while they run (lease-rules
 * acceptReports), the write noted for the holder's next grant until
 * LEASE_RETAIN_MS after. Forgotten with the process: for LEASE_MS after
 * a restart every accept reports ANY_HOLDER (restarted).
 */
export class LeaseGrants {
  private readonly grants = new Map<string, Granted>()
  private forgetfulUntil = 0

  /** `newId`: a fresh id, never handed out before, this process or an earlier one (the HLC). */
  constructor (private readonly c: { clock: Clock, ring: LeaseRing, newId: () => string }) {
  }

  /**
   * A peer that was on a ring before it started (a restart) may have granted
   * leases it no longer knows of: for LEASE_MS every accept reports
   * ANY_HOLDER. A peer new to the cluster granted none.
   */
  restarted (): void {
    this.forgetfulUntil = this.c.clock.monotonic() + LEASE_MS
  }

  /**
   * A lease for `holder`, granted when both sides place keys on the same
   * ring. It continues the last one (the writes noted since come with it)
   * when that is the one the holder got (`since`, its id: a reply lost on
   * the way would otherwise take its changes with it).
   */
  grant (holder: string, ring: string, since: string | null): GrantReply {
    const now = this.c.clock.monotonic()
    const before = this.grants.get(holder)
    if (ring !== this.c.ring.fingerprint()) {
      return { granted: false, id: '', ms: 0, continued: false, changes: [] }
    }
    const continued = before !== undefined && before.id === since && before.until + LEASE_RETAIN_MS > now && !before.overflow && before.ring === ring
    const changes = continued ? before.changes : []
    const id = this.c.newId()
    this.grants.set(holder, { holder, id, until: now + LEASE_MS, ring, changes: [], overflow: false })
    return { granted: true, id, ms: LEASE_MS, continued, changes }
  }

  /**
   * A write this replica accepted (a proposal's phase 2, `from` its
   * proposer): the leases to report to the proposer, each also noting the
   * write for its holder's next grant.
   */
  accepted (key: Key, version: HlcTimestamp, from: string): LeaseReport[] | undefined {
    const now = this.c.clock.monotonic()
    if (this.grants.size === 0 && now >= this.forgetfulUntil) return undefined
    for (const [holder, g] of this.grants) if (g.until + LEASE_RETAIN_MS <= now) this.grants.delete(holder)
    const ring = this.c.ring.fingerprint()
    const { reports, note } = acceptReports(this.grants.values(), { now, ring, replicas: this.grants.size > 0 ? this.c.ring.preferenceList(key) : [], from, forgetfulUntil: this.forgetfulUntil })
    for (const holder of note) {
      const g = this.grants.get(holder)
      if (g === undefined || g.overflow) continue
      if (g.changes.length >= LEASE_MAX_CHANGES) {
        g.overflow = true
        g.changes = []
      } else {
        g.changes.push([key, version])
      }
    }
    return reports.length > 0 ? reports : undefined
  }

  /** `out`, the answer to an accept of `version` proposed by `from`, with the leases to report when it was taken. */
  stamp (out: ApplyResult, key: Key, version: HlcTimestamp, from: string): ApplyResult {
    if (!out.applied) return out
    const leases = this.accepted(key, version, from)
    return leases === undefined ? out : { ...out, leases }
  }
}

/** How a holder asks a grantor for a lease (`since`: the id of the last grant it got from it). */
export type AskGrant = (grantor: Target, ring: string, since: string | null) => Promise<GrantReply>

/**
 * The holder's side: the grants this peer holds from the other replicas,
 * asked for when a read wants them (no timer: an idle peer sends nothing),
 * and what it knows of each key's versions (lease-rules Mark). A read may
 * answer from this peer's copy alone (`mayAnswer`) while every other live
 * replica of the key granted a lease on the current ring, the ring is
 * settled, and the copy is at the version marked chosen. A grant that does
 * not continue the last one from that grantor (lease-rules LEASE_RETAIN_MS,
 * a restart, another ring) forgets the marks (a write may have been
 * acknowledged unseen); `epoch` counts those, so a read or write that began
 * before one does not mark what it found after it.
 */
export class LeaseHolder {
  private readonly held = new Map<string, { id: string, until: number, ring: string, grantor: Target }>()
  private readonly asking = new Map<string, Promise<void>>()
  private readonly retryAt = new Map<string, number>()
  private marks = new Map<Key, Mark>()
  /** Writes this peer took from other proposers and is not told chosen yet, with the epoch they were taken in. */
  private readonly taken = new Map<Key, { version: HlcTimestamp, epoch: number }>()
  private gen = 0

  constructor (private readonly c: { clock: Clock, ring: LeaseRing, ask: AskGrant, settled: () => boolean, log: Logger }) {}

  /** Counts gaps in the grants; a mark taken in an older epoch is dropped. */
  epoch (): number { return this.gen }

  /**
   * Whether this peer's own copy of the key may answer a read alone, at the
   * version marked chosen (`answers` then says whether the copy is at it):
   * this peer is a replica, every other is alive and granted a lease on the
   * current ring, the ring is settled, and a version is marked. Asks the
   * grantors whose grants are missing or running out (renew).
   */
  mayAnswer (key: Key, targets: readonly Target[]): boolean {
    if (!targets.some(t => t.isSelf) || targets.some(t => !t.isAlive)) return false
    this.renew(targets)
    const now = this.c.clock.monotonic()
    const ring = this.c.ring.fingerprint()
    // A grant that ran out is kept: the next one may continue it (the grantor noted the writes meanwhile).
    const covered = targets.every(t => {
      const h = this.held.get(t.peerId)
      return t.isSelf || (h !== undefined && h.until > now && h.ring === ring)
    })
    const mark = this.marks.get(key)
    return covered && this.c.settled() && mark !== undefined && 'clean' in mark
  }

  /**
   * When this peer is one of `targets` (a key's replicas), asks each other
   * live one for a grant when it holds none from it, or one on another ring
   * or running out.
   */
  renew (targets: readonly Target[]): void {
    if (!targets.some(t => t.isSelf)) return
    const now = this.c.clock.monotonic()
    const ring = this.c.ring.fingerprint()
    for (const t of targets) if (!t.isSelf && t.isAlive && this.due(this.held.get(t.peerId), now, ring)) this.ask(t, ring, now)
  }

  /** Whether a grant (or none) wants asking again. */
  private due (h: { until: number, ring: string } | undefined, now: number, ring: string): boolean {
    return h === undefined || h.until - now < LEASE_RENEW_MS || h.ring !== ring
  }

  /** Whether a copy at `held` answers alone (lease-rules answersAlone). */
  answers (key: Key, held: HlcTimestamp): boolean {
    return answersAlone(this.marks.get(key), held)
  }

  /** This peer's copy holds `version` (ABSENT: no record), known chosen by a read or write begun in `epoch`. */
  chosen (key: Key, version: HlcTimestamp, epoch: number): void {
    // Without a grant there is nothing to mark: the first one forgets every mark anyway.
    if (epoch !== this.gen || this.held.size === 0) return
    this.set(key, markChosen(this.marks.get(key), version))
  }

  /**
   * This peer promised another proposer `ballot` for the key: a write may
   * follow, acknowledged without this copy (it refuses an older accept from
   * then on), so no answer alone below it.
   */
  promising (key: Key, ballot: HlcTimestamp): void {
    this.written(key, ballot)
  }

  /** This peer's copy took `version` of the key from another proposer (an accept); chosen when the proposer says so (learnt). */
  accepting (key: Key, version: HlcTimestamp): void {
    if (this.held.size === 0) return
    this.taken.delete(key)
    this.taken.set(key, { version, epoch: this.gen })
    if (this.taken.size > LEASE_MAX_MARKS) this.taken.delete(this.taken.keys().next().value as Key)
    this.keepUp()
  }

  /**
   * Renews the grants this peer holds that run out soon, as a read would: a
   * replica taking writes keeps its grants going, so the writes noted for it
   * come a few at a time and its marks last until its next read.
   */
  private keepUp (): void {
    const now = this.c.clock.monotonic()
    const ring = this.c.ring.fingerprint()
    for (const h of this.held.values()) if (this.due(h, now, ring)) this.ask(h.grantor, ring, now)
  }

  /** The proposers of these writes found them on a write quorum: a copy that took one (accepting) holds a chosen version. */
  learnt (chosen: ReadonlyArray<[Key, HlcTimestamp]>): void {
    for (const [key, version] of chosen) {
      const t = this.taken.get(key)
      if (t === undefined || t.version !== version) continue
      this.taken.delete(key)
      this.chosen(key, version, t.epoch)
    }
  }

  /**
   * This peer's own proposal at `ballot` ended on phase 1 alone, which
   * proved `current` chosen (ABSENT: nothing): no write between the two can
   * be chosen any more (a write quorum of it would meet the promises), so
   * the floor it set at `ballot` (proposing) comes down to `current`,
   * unless something newer raised it meanwhile.
   */
  decided (key: Key, ballot: HlcTimestamp, current: HlcTimestamp): void {
    const mark = this.marks.get(key)
    if (mark !== undefined && 'floor' in mark && mark.floor === ballot) this.set(key, { clean: current })
  }

  /** `version` of the key was written, this peer's copy perhaps not: no answer alone below it. */
  written (key: Key, version: HlcTimestamp): void {
    if (this.held.size === 0) return
    const next = markWritten(this.marks.get(key), version)
    if (next !== this.marks.get(key)) this.set(key, next)
  }

  private set (key: Key, mark: Mark | undefined): void {
    if (mark === undefined) return
    this.marks.delete(key)
    this.marks.set(key, mark)
    if (this.marks.size <= LEASE_MAX_MARKS) return
    // The oldest goes; a floor forgotten lets an older read mark again: such reads end in a new epoch.
    const [oldest, m] = this.marks.entries().next().value as [Key, Mark]
    this.marks.delete(oldest)
    if ('floor' in m) this.gen++
  }

  private forget (): void {
    if (this.marks.size > 0) this.marks = new Map()
    this.gen++
  }

  private ask (t: Target, ring: string, now: number): void {
    if (this.asking.has(t.peerId) || (this.retryAt.get(t.peerId) ?? 0) > now) return
    const sentAt = now
    const asked = this.c.ask(t, ring, this.held.get(t.peerId)?.id ?? null).then(reply => {
      if (!reply.granted) {
        this.retryAt.set(t.peerId, this.c.clock.monotonic() + LEASE_RETRY_MS)
        return
      }
      const before = this.held.get(t.peerId)
      if (!reply.continued || before === undefined || before.ring !== ring) this.forget()
      else for (const [key, version] of reply.changes) this.written(key, version)
      this.held.set(t.peerId, { id: reply.id, until: heldUntil(sentAt, reply.ms), ring, grantor: t })
    }, err => {
      this.c.log.debug({ err, grantor: t.peerId }, 'asking for a read lease failed')
      this.retryAt.set(t.peerId, this.c.clock.monotonic() + LEASE_RETRY_MS)
    }).finally(() => { this.asking.delete(t.peerId) })
    this.asking.set(t.peerId, asked)
  }
}

/**
 * Waits, before a write its quorum accepted is acknowledged, for every
 * lease holder its replicas reported (in `accepted`, the quorum's answers)
 * to answer it too (take it, or refuse it: see answeredOrEnded), or for the
 * holder's lease to run out: a holder never answers a read alone without an
 * acknowledged write. `to` and `ops` are
 * the replicas the write went to and their answers, in the same order; `n`
 * the key's replicas (those the write skipped may hold a lease too).
 */
export async function awaitLeaseholders (write: { accepted: readonly ApplyResult[], to: readonly Target[], ops: ReadonlyArray<Promise<ApplyResult>>, n: number }, clock: Clock): Promise<void> {
  const { accepted, to, ops, n } = write
  let reports: LeaseReport[] | undefined
  for (const r of accepted) if (r.leases !== undefined) (reports ??= []).push(...r.leases)
  if (reports === undefined) return
  const now = clock.monotonic()
  const waits: Array<Promise<void>> = []
  for (const [holder, end] of leaseDeadlines(reports, now)) {
    // A holder the write did not go to (or, for ANY_HOLDER, any such replica) can only be waited out.
    const which = holder === ANY_HOLDER ? [...to.keys(), ...(to.length < n ? [-1] : [])] : [to.findIndex(t => t.peerId === holder)]
    for (const i of which) waits.push(answeredOrEnded(i < 0 ? undefined : ops[i], end - now, clock))
  }
  await Promise.all(waits)
}

/**
 * Resolves once the holder answered `op`, or `ms` passed (when it failed:
 * then the lease's end is the wait). A refusal will do: the holder took a
 * newer version, or promised a newer ballot, which stops its answers alone
 * below it (LeaseHolder.promising).
 */
async function answeredOrEnded (op: Promise<ApplyResult> | undefined, ms: number, clock: Clock): Promise<void> {
  if (ms <= 0) return
  await new Promise<void>(resolve => {
    const timer = clock.setTimeout(resolve, ms)
    op?.then(() => {
      timer.cancel()
      resolve()
    }, () => {})
  })
}

export { ABSENT }
