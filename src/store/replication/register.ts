import type { Clock } from '../../common/clock.js'
import { PmzError } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Random } from '../../common/random.js'
import type { Membership } from '../../mesh/membership/index.js'
import { originOf, type ReplicaEntry } from '../record.js'
import type { ApplyResult, PrepareResult, ReplicaPut, ReplicaStore } from '../types.js'
import { REGISTER_BACKOFF_BASE_MS, REGISTER_BACKOFF_MAX_MS, REGISTER_MAX_ATTEMPTS, SURVEY_SPECULATE_MS } from './constants.js'
import type { Target } from './placement.js'
import { quorumNotMet, waitQuorum, type QuorumOutcome } from './quorum.js'
import type { ReplicaClient } from './replica-client.js'
import { afterPrepare, backoffMs, type Decision, type Intent, type Outcome } from './register-rules.js'
import type { Key } from '../key.js'
import { awaitLeaseholders } from './leases.js'

export interface RegisterComponents {
  client: ReplicaClient
  /** A replica declared dead while phase 1 waits for it counts as failed at once. */
  membership: Membership
  /** Ballots come from this peer's HLC. */
  local: ReplicaStore
  clock: Clock
  random: Random
  log: Logger
  /** A proposal is about to prepare `ballot` (read leases: this peer's copy is not current below it, LeaseHolder.written). */
  proposing?: (key: Key, ballot: HlcTimestamp) => void
}

/**
 * Phase 2 of a proposal's own value: its replicas' answers and their write
 * quorum; `untouched` when no replica can have taken it (the value could not
 * even be staged), so failing changed nothing.
 */
export interface Sent { ops: Array<Promise<ApplyResult>>, outcome: QuorumOutcome<ApplyResult>, untouched?: boolean }

/**
 * How a proposal sends its own value in phase 2 at `ballot`, an accept
 * (ReplicaPut.accept) carrying the proposal's `origin`; called again at
 * each newer ballot.
 */
export type Payload = (ballot: HlcTimestamp, targets: Target[], q2: number) => Promise<Sent>

/** One proposal: the key, the replicas to ask, the quorums (q1 + q2 > N). */
export interface Proposal {
  key: Key
  intent: Intent
  live: Target[]
  q1: number
  q2: number
  /** Phase 1 waits for every live replica to answer or fail (the ring is not settled), still needing only q1 promises. */
  waitAll?: boolean
  /** The value, for create and replace. */
  payload?: Payload
  /** For a delete: when it happens (ms since the epoch). */
  deletedAt?: number
  /** The key's replicas, live or not (read leases: one the write skips may hold one). @default live.length */
  n?: number
  signal?: AbortSignal
}

/**
 * What a proposal ended with: `newest` is the register's value phase 1
 * found; `ballot` and `ops` the accepted phase 2, when there was one, sent
 * to `to` (the live replicas less those declared dead meanwhile).
 */
export interface Decided {
  outcome: Outcome
  newest: ReplicaEntry | undefined
  ballot?: HlcTimestamp
  ops?: Array<Promise<ApplyResult>>
  to?: Target[]
  /**
   * Decided on phase 1 alone (no phase 2): the ballot it prepared, and the
   * register's value phase 1 proved chosen, `current` (its version; '' for
   * none at all), when it did: on a write quorum, or absent from every
   * promise. No value between the two can be chosen any more (read leases).
   */
  prepared?: { ballot: HlcTimestamp, current: HlcTimestamp | undefined }
}

/**
 * The proposer of a key's CASPaxos register (rules in register-rules.ts):
 * phase 1 (prepare) to the live replicas until a quorum promised, a decision
 * over what they hold, phase 2 (accept) of that decision at the same ballot
 * until a write quorum took it; a lost ballot tries again with a newer one
 * after a jittered backoff. A create that cannot be confirmed is settled by
 * an undo proposal (see giveUp): carried on when it may be chosen, else taken
 * back, so a 503 never leaves a value behind; when even that cannot be
 * decided the outcome is unknown (ERR_TIMEOUT, 504).
 */
export class Register {
  constructor (private readonly c: RegisterComponents) {}

  async propose (p: Proposal): Promise<Decided> {
    /** Whether some replica may hold this proposal's own value (or tombstone): then failing needs an undo, or is an unknown outcome. */
    let touched = false
    for (let attempt = 1; attempt <= REGISTER_MAX_ATTEMPTS; attempt++) {
      p.signal?.throwIfAborted()
      if (attempt > 1) await this.pause(backoffMs(attempt - 1, this.c.random, REGISTER_BACKOFF_BASE_MS, REGISTER_BACKOFF_MAX_MS))
      const ballot = this.c.local.nextVersion()
      // This peer promises the ballot itself (its copy then refuses older accepts), and phase 2 may put it on a write quorum unbeknown to this proposal.
      this.c.proposing?.(p.key, ballot)
      const { decision, sources, gone } = await this.prepare(p, ballot)
      const to = p.live.filter(t => !gone.has(t.peerId))
      if (decision.type === 'unavailable') {
        if (touched) return await this.giveUp(p)
        throw quorumNotMet(decision.promised, p.q1, 'promised')
      }
      if (decision.type === 'retry') continue
      const { accept } = decision
      if (accept.type === 'none') {
        const newest = decision.newest
        const current = newest === undefined ? '' : sources(newest).length >= p.q2 ? newest.version : undefined
        return { outcome: decision.outcome, newest, prepared: { ballot, current } }
      }
      let sent: Sent | undefined
      if (accept.type === 'carry') {
        const from = sources(accept.entry)
        sent = await quorumOf(to.map(async t => await this.carry(t, { key: p.key, entry: accept.entry, ballot, from })), p.q2)
      } else {
        const before: boolean = touched
        touched = true
        if (p.intent.type === 'delete' || p.intent.type === 'undo') {
          const origin = p.intent.type === 'delete' ? p.intent.origin : undefined
          const deletedAt = p.deletedAt ?? this.c.clock.now()
          sent = await quorumOf(to.map(async t => await this.c.client.tombstone(t, p.key, ballot, deletedAt, { accept: true, origin })), p.q2)
        } else {
          if (p.payload === undefined) throw new PmzError('ERR_INTERNAL', 'a write proposal without its value')
          sent = await p.payload(ballot, to, p.q2)
          if (sent.untouched === true) touched = before
        }
      }
      if (sent.outcome.ok) {
        await awaitLeaseholders({ accepted: sent.outcome.values, to, ops: sent.ops, n: p.n ?? p.live.length }, this.c.clock)
        return { outcome: decision.outcome, newest: decision.newest, ballot, ops: sent.ops, to }
      }
      // Refused by a newer ballot: try again; failed (replicas gone or slow) with nothing of ours out there: nothing changed.
      if (sent.outcome.stoppedBy === undefined && !touched) throw quorumNotMet(sent.outcome.values.length, p.q2, 'accepted', sent.outcome.errors)
      if (sent.outcome.stoppedBy === undefined) return await this.giveUp(p)
    }
    this.c.log.debug({ key: p.key, intent: p.intent.type }, 'register: ballots kept losing to concurrent proposals')
    if (touched) return await this.giveUp(p)
    throw new PmzError('ERR_QUORUM_NOT_MET', 'concurrent writes of the key kept preempting this one', { details: { key: p.key } })
  }

  /**
   * Phase 1: prepare at q1 live replicas (self first: its promise costs no
   * message), and at the others too when one of them fails or is slow
   * (SURVEY_SPECULATE_MS), when the ring is not settled (`waitAll`), for an
   * undo, or when the verdict so far would carry a record on or try again:
   * more answers may show the record on a write quorum already, or a quorum
   * of promises after all. Settles once the verdict cannot change
   * (register-rules afterPrepare). `sources(entry)` lists the replicas that
   * answered holding that version.
   */
  private async prepare (p: Proposal, ballot: HlcTimestamp): Promise<{ decision: Decision, sources: (e: ReplicaEntry) => Target[], gone: Set<string> }> {
    const answers: PrepareResult[] = []
    const from: Target[] = []
    const gone = new Set<string>()
    const sources = (e: ReplicaEntry): Target[] => from.filter((_, i) => answers[i].entry?.version === e.version)
    const order = [...p.live.filter(t => t.isSelf), ...p.live.filter(t => !t.isSelf)]
    const decision = await new Promise<Decision>(resolve => {
      let done = false
      let asked = 0
      const failed = new Set<string>()
      const settle = (): void => {
        if (done) return
        const d = afterPrepare(p.intent, { answers, failed: failed.size, asked, q1: p.q1, q2: p.q2, now: this.c.clock.now(), waitAll: p.waitAll })
        if (d === undefined) return
        if (asked < order.length && (d.type !== 'decided' || d.accept.type === 'carry')) {
          widen()
          return
        }
        done = true
        offDeath()
        speculate.cancel()
        resolve(d)
      }
      const fail = (t: Target): void => {
        if (from.includes(t) || failed.has(t.peerId)) return
        failed.add(t.peerId)
        if (asked < order.length) widen()
        else settle()
      }
      const ask = (t: Target): void => {
        asked++
        this.c.client.prepare(t, p.key, ballot).then(a => {
          if (done || failed.has(t.peerId)) return
          answers.push(a)
          from.push(t)
          settle()
        }, err => {
          this.c.log.debug({ err, key: p.key, replica: t.peerId }, 'prepare failed')
          fail(t)
        })
      }
      /** Asks every live replica not asked yet. */
      const widen = (): void => {
        while (asked < order.length) {
          const t = order[asked]
          if (gone.has(t.peerId)) {
            asked++
            failed.add(t.peerId)
          } else {
            ask(t)
          }
        }
        settle()
      }
      const offDeath = this.c.membership.on('peer:change', e => {
        const i = order.findIndex(x => x.peerId === e.member.peerId)
        if (i < 0 || (e.type !== 'dead' && e.type !== 'leave')) return
        gone.add(order[i].peerId)
        if (i < asked) fail(order[i])
      })
      const speculate = this.c.clock.setTimeout(() => { if (!done) widen() }, SURVEY_SPECULATE_MS)
      const first = p.waitAll === true || p.intent.type === 'undo' ? order.length : Math.min(p.q1, order.length)
      while (asked < first) ask(order[asked])
      settle()
    })
    return { decision, sources, gone }
  }

  /** Phase 2 of a record found on too few replicas: the same record (bytes, times, origin) at the new ballot, copied to `t` from a replica that holds it (`from`). */
  private async carry (t: Target, record: { key: Key, entry: ReplicaEntry, ballot: HlcTimestamp, from: Target[] }): Promise<ApplyResult> {
    const { key, entry, ballot, from } = record
    const origin = originOf(entry)
    if (entry.deleted) return await this.c.client.tombstone(t, key, ballot, entry.deletedAt ?? this.c.clock.now(), { accept: true, origin })
    const as: ReplicaPut = { version: ballot, created: entry.created, expires: entry.expires, contentType: entry.contentType, sha256: entry.sha256, origin, accept: true }
    // The target itself first when it holds it (a local read), then the others.
    const sources = [...from].sort((a, b) => Number(b.peerId === t.peerId) - Number(a.peerId === t.peerId))
    try {
      // Changed meanwhile (undefined), or gone from every holder: a newer proposal took over, so this ballot lost.
      return await this.c.client.copy(key, sources, t, { version: entry.version, as }) ?? { applied: false, entry: undefined }
    } catch (err) {
      if ((err as PmzError).code === 'ERR_NOT_FOUND') return { applied: false, entry: undefined }
      throw err
    }
  }

  /**
   * A proposal whose own value (or tombstone) may be on some replicas but
   * could not be confirmed. A create is settled by an undo proposal: a value
   * that may be chosen is carried on (the create succeeded after all), one
   * that cannot be is taken back, never touching another write's value, so
   * the caller's 503 changed nothing. Otherwise, or when the undo cannot be
   * decided either, the outcome is unknown.
   */
  private async giveUp (p: Proposal): Promise<Decided> {
    if (p.intent.type === 'create') {
      let undo: Decided | undefined
      try {
        undo = await this.propose({ key: p.key, live: p.live, q1: p.q1, q2: p.q2, waitAll: p.waitAll, n: p.n, intent: { type: 'undo', origin: p.intent.origin }, deletedAt: this.c.clock.now() })
      } catch (err) {
        this.c.log.warn({ err, key: p.key }, 'a write could be neither confirmed nor taken back')
      }
      // The value was chosen after all (another proposal may have answered 409 on it): the create succeeded.
      if (undo?.outcome === 'written') return undo
      if (undo !== undefined) throw new PmzError('ERR_QUORUM_NOT_MET', 'replicas did not confirm the write; nothing was stored', { details: { key: p.key } })
    }
    throw new PmzError('ERR_TIMEOUT', 'replicas did not confirm the change in time; it may or may not have been applied', { details: { key: p.key, outcome: 'unknown' } })
  }

  private async pause (ms: number): Promise<void> {
    if (ms <= 0) return
    await new Promise<void>(resolve => { this.c.clock.setTimeout(resolve, ms) })
  }
}

/** Waits for `q2` replicas to apply; the first refusal (a newer ballot there) ends the wait. */
export async function quorumOf (ops: Array<Promise<ApplyResult>>, q2: number): Promise<Sent> {
  for (const op of ops) op.catch(() => {}) // observed by waitQuorum
  return { ops, outcome: await waitQuorum(ops, q2, r => !r.applied) }
}
