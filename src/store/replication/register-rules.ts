import type { HlcTimestamp } from '../../common/hlc.js'
import { isLiveEntry, originOf, type ReplicaEntry } from '../record.js'
import type { PrepareResult } from '../types.js'

/**
 * The decisions of one key's register, a CASPaxos register (Rystsov 2018)
 * over the key's replicas: pure functions of the replicas' answers, so they
 * are tested alone. I/O is in register.ts.
 *
 * The ballot of a proposal is a fresh HLC version, and the value a replica
 * accepts is written under that version: ordering records by version is
 * ordering them by ballot, so read repair, anti-entropy and hinted handoff
 * (which spread the newest version) only ever spread a value some proposer
 * chose from what a quorum of phase 1 reported (CASPaxos §2.2). A value
 * carried on by another proposer keeps its `origin`, the version it was
 * first proposed under, which is how its own proposer recognises it.
 */

/** What a proposal wants of the key. `origin` is the ballot of its first attempt: the identity of the value it writes. */
export type Intent =
  /** add_key: write the value only when the key holds none (Pulzar's duplicate rule). */
  | { type: 'create', origin: HlcTimestamp }
  /** Write the value whatever the key holds. */
  | { type: 'replace', origin: HlcTimestamp }
  /** Delete the live value. */
  | { type: 'delete', origin: HlcTimestamp }
  /** Take back a create that could not be confirmed: a tombstone unless another write's value is live. */
  | { type: 'undo', origin: HlcTimestamp }

/** The answer a decided proposal gives its caller. */
export type Outcome = 'written' | 'exists' | 'deleted' | 'absent' | 'undone'

/**
 * What phase 2 sends at the new ballot: `mine` the proposal's own value
 * (its bytes, or a tombstone for delete and undo), `carry` the newest
 * record as it is (a value not known to be on a write quorum yet, so that
 * an answer given on it stays true), `none` nothing.
 */
export type Accept = { type: 'mine' } | { type: 'carry', entry: ReplicaEntry } | { type: 'none' }

export type Decision =
  /** Phase 1 met a newer ballot, or too many replicas refused: try again with a newer one (above `ballot`). */
  | { type: 'retry', ballot: HlcTimestamp | undefined }
  /** Phase 1 cannot reach its quorum: too few replicas answered. */
  | { type: 'unavailable', promised: number }
  | { type: 'decided', outcome: Outcome, accept: Accept, newest: ReplicaEntry | undefined }

/** What phase 1 of a proposal has heard so far. */
export interface PrepareRound {
  /** The answers so far, promises and refusals. */
  answers: PrepareResult[]
  /** Replicas asked that could not answer. */
  failed: number
  /** Replicas asked. */
  asked: number
  /** The phase 1 quorum (q1 + q2 > N). */
  q1: number
  /** The write quorum. */
  q2: number
  /** ms since the epoch, for expiry. */
  now: number
  /** Every replica asked must answer or fail first (the ring is not settled: a new owner may lack the key). @default false */
  waitAll?: boolean
}

/**
 * Phase 1's verdict once the replicas asked have answered, or undefined
 * while more answers may change it (with `waitAll`, while any is still to
 * come).
 */
export function afterPrepare (intent: Intent, round: PrepareRound): Decision | undefined {
  const { answers, failed, asked, q1, q2, now, waitAll = false } = round
  const promised = answers.filter(a => a.promised)
  const refused = answers.filter(a => !a.promised)
  const open = asked - answers.length - failed
  // `waitAll` (the ring is not settled: a new owner may lack the key): every replica asked answers or fails first.
  if (waitAll && open > 0 && refused.length === 0) return undefined
  if (promised.length >= q1) {
    // An undo decides on every answer it can get: whether its value may already be chosen.
    if (intent.type === 'undo') return open > 0 ? undefined : decideUndo(intent, answers.map(a => a.entry), { unheard: q1 + q2 - 1 - answers.length, q2, now })
    // Every record seen counts, refused answers' too: a value already on a write quorum needs no carrying,
    // and carrying one that does not preempts the proposal still writing it, so the others' answers are worth the wait.
    const d = decide(intent, answers.map(a => a.entry), q2, now)
    return d.type === 'decided' && d.accept.type === 'carry' && open > 0 ? undefined : d
  }
  if (promised.length + open >= q1) return undefined
  if (refused.length > 0) return { type: 'retry', ballot: newestBallot(refused) }
  return { type: 'unavailable', promised: promised.length }
}

/**
 * CASPaxos's change function for each intent, over the records a phase 1
 * quorum reported: the newest of them is the register's current value (a
 * write acknowledged by a write quorum is among them, since the quorums
 * intersect).
 */
export function decide (intent: Intent, entries: Array<ReplicaEntry | undefined>, q2: number, now: number): Decision {
  const newest = newestEntry(entries)
  const held = newest === undefined ? 0 : entries.filter(e => e?.version === newest.version).length
  // A record seen on fewer than a write quorum may be a proposal that stopped midway: carry it on before answering from it.
  const settle = (outcome: Outcome): Decision => ({ type: 'decided', outcome, newest, accept: newest !== undefined && held < q2 ? { type: 'carry', entry: newest } : { type: 'none' } })
  const live = isLiveEntry(newest, now)
  const mine = newest !== undefined && originOf(newest) === intent.origin
  switch (intent.type) {
    case 'create':
      if (live && mine) return settle('written')
      if (live) return settle('exists')
      return { type: 'decided', outcome: 'written', accept: { type: 'mine' }, newest }
    case 'replace':
      if (live && mine) return settle('written')
      return { type: 'decided', outcome: 'written', accept: { type: 'mine' }, newest }
    case 'delete':
      if (mine && newest?.deleted === true) return settle('deleted')
      if (live) return { type: 'decided', outcome: 'deleted', accept: { type: 'mine' }, newest }
      return { type: 'decided', outcome: 'absent', accept: { type: 'none' }, newest }
    case 'undo':
      // Another write's live value stays. Otherwise a tombstone at this newer ballot, also when the
      // quorum did not report the value to undo: a replica outside it may hold it, and must not carry it on later.
      if (live && !mine) return { type: 'decided', outcome: 'undone', accept: { type: 'none' }, newest }
      return { type: 'decided', outcome: 'undone', accept: { type: 'mine' }, newest }
  }
}

/**
 * Whether a create that could not be confirmed may be taken back, from the
 * records of every replica that answered (`unheard`: replicas of N that did
 * not; `q2` the write quorum; `now` for expiry). Its value is chosen once W replicas hold it, and another proposal may
 * then have answered 409 on it: then the create did succeed (`written`, the
 * caller answers 201). When W replicas may hold it (counting the unheard
 * ones), it is carried on to be sure. Only a value that cannot be on W
 * replicas is taken back (a tombstone at the new ballot, see decide).
 */
export function decideUndo (intent: Extract<Intent, { type: 'undo' }>, entries: Array<ReplicaEntry | undefined>, quorum: { unheard: number, q2: number, now: number }): Decision {
  const { unheard, q2, now } = quorum
  const mine = entries.filter(e => e !== undefined && !e.deleted && originOf(e) === intent.origin && isLiveEntry(e, now))
  const newest = newestEntry(entries)
  if (newest !== undefined && mine.includes(newest)) {
    const held = entries.filter(e => e?.version === newest.version).length
    if (held >= q2) return { type: 'decided', outcome: 'written', accept: { type: 'none' }, newest }
    if (held + unheard >= q2 || mine.length + unheard >= q2) return { type: 'decided', outcome: 'written', accept: { type: 'carry', entry: newest }, newest }
  }
  return decide(intent, entries, q2, now)
}

/** Jittered exponential backoff before attempt `attempt` (1-based) after a lost ballot, ms. */
export function backoffMs (attempt: number, random: () => number, baseMs: number, maxMs: number): number {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1)))
}

function newestEntry (entries: Array<ReplicaEntry | undefined>): ReplicaEntry | undefined {
  let newest: ReplicaEntry | undefined
  for (const e of entries) if (e !== undefined && (newest === undefined || e.version > newest.version)) newest = e
  return newest
}

function newestBallot (answers: PrepareResult[]): HlcTimestamp | undefined {
  let b: HlcTimestamp | undefined
  for (const a of answers) if (a.ballot !== undefined && (b === undefined || a.ballot > b)) b = a.ballot
  return b
}
