import type { HlcTimestamp } from '../../common/hlc.js'
import type { LeaseReport } from '../types.js'

export type { LeaseReport }

/**
 * The decisions of read leases, pure: what a replica that took a write
 * reports about the leases it granted, how long a proposer waits before
 * acknowledging, until when a holder counts on a grant, and whether a
 * holder's own copy of a key may answer a read. I/O and clocks are in
 * leases.ts.
 *
 * A replica answers a read from its own copy alone only while every other
 * live replica of the key granted it a lease (grantors), and only at a
 * version it knows is chosen (on a write quorum) and not superseded. A
 * grantor that accepts a write tells the proposer about every lease it
 * granted to another replica of the key, and the proposer acknowledges the
 * write only once those holders accepted it too or their leases ran out. A
 * write acknowledged without the holder also goes into the list of changes
 * the grantor hands the holder with its next grant, so a renewed lease never
 * covers a copy the holder lacks. The grantor keeps that list for
 * LEASE_RETAIN_MS after a grant ran out: a holder whose lease lapsed while
 * it was idle gets it back with the writes it missed, and keeps what it
 * knew of every other key.
 */

/** How long a grant lasts, ms (on the grantor's monotonic clock). */
export const LEASE_MS = 2_000
/** A holder asks for a new grant once less than this is left of the one it holds, ms. */
export const LEASE_RENEW_MS = 1_000
/** Taken off a grant on the holder's side, ms: its clock may run slower than the grantor's (DRIFT) and the grant's own travel is not counted. */
export const LEASE_MARGIN_MS = 50
/** Relative clock-rate difference allowed between two peers. */
export const LEASE_DRIFT = 0.01
/** How long a grantor keeps noting writes for a holder after its grant ran out, ms (its next grant then continues the last one). */
export const LEASE_RETAIN_MS = 300_000
/** After a failed request for a grant, a holder waits this long before asking that grantor again, ms. */
export const LEASE_RETRY_MS = 500
/** Writes a grantor keeps per holder for its next grant; past it the holder forgets every copy it knew was current. */
export const LEASE_MAX_CHANGES = 10_000
/** Keys a holder remembers the chosen version of; past it the oldest are forgotten (a read of one surveys again). */
export const LEASE_MAX_MARKS = 100_000
/** Stands for every replica in a report: a grantor that restarted less than LEASE_MS ago cannot know whom it granted a lease. */
export const ANY_HOLDER = '*'

/** A lease a grantor granted, as it keeps it (until LEASE_RETAIN_MS after its end). */
export interface Grant {
  holder: string
  /** End, on the grantor's monotonic clock. */
  until: number
  /** The ring fingerprint both sides had when it was granted. */
  ring: string
}

/** What an accept does with the grants: the leases to report to the proposer, and the holders to note the write for. */
export interface AcceptOutcome { reports: LeaseReport[], note: string[] }


/** What a grantor knows of an accepted write. */
export interface AcceptFacts {
  /** Grantor's monotonic now. */
  now: number
  /** The grantor's ring fingerprint now. */
  ring: string
  /** The key's replicas on the grantor's ring now. */
  replicas: readonly string[]
  /** The peer that proposed the write: a holder that proposed it knows it already. */
  from: string
  /** Until when the grantor may have forgotten grants (a restart less than LEASE_MS ago), monotonic. */
  forgetfulUntil: number
}

/**
 * What a grantor does with a write it accepted, for each grant (kept, see
 * Grant) to a replica of the key other than the proposer (to any holder at
 * all when the ring changed since the grant: it may still count the key as
 * its own): notes the write for the holder's next grant, and reports the
 * lease to the proposer while it runs; ANY_HOLDER too while it may have
 * forgotten grants.
 */
export function acceptReports (grants: Iterable<Grant>, f: AcceptFacts): AcceptOutcome {
  const reports: LeaseReport[] = []
  const note: string[] = []
  if (f.now < f.forgetfulUntil) reports.push({ holder: ANY_HOLDER, ms: Math.ceil(f.forgetfulUntil - f.now) })
  for (const g of grants) {
    if (g.holder === f.from || g.until + LEASE_RETAIN_MS <= f.now) continue
    if (g.ring === f.ring && !f.replicas.includes(g.holder)) continue
    note.push(g.holder)
    if (g.until > f.now) reports.push({ holder: g.holder, ms: Math.ceil(g.until - f.now) })
  }
  return { reports, note }
}

/**
 * What a proposer waits for before it acknowledges a write its quorum
 * accepted: for each holder reported, its own acceptance or the end of its
 * lease (the deadline, on the proposer's clock, from `now`, a time after
 * the reports were sent). ANY_HOLDER stands for every replica of the key.
 * The latest deadline per holder counts.
 */
export function leaseDeadlines (reports: Iterable<LeaseReport>, now: number): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of reports) {
    const end = now + r.ms
    if ((out.get(r.holder) ?? -Infinity) < end) out.set(r.holder, end)
  }
  return out
}

/**
 * Until when a holder counts on a grant of `ms` it asked for at `sentAt`
 * (its monotonic clock): the grant started after the request left, and the
 * holder's clock may run up to LEASE_DRIFT slower.
 */
export function heldUntil (sentAt: number, ms: number): number {
  return sentAt + ms * (1 - LEASE_DRIFT) - LEASE_MARGIN_MS
}

/** What the holder knows of one key: the chosen version its copy holds (`clean`), or a version it must not answer below (`floor`). ABSENT: no record. */
export type Mark = { clean: HlcTimestamp } | { floor: HlcTimestamp }
/** The version of a key that has no record (absent everywhere a read looked). */
export const ABSENT = ''

/**
 * The mark after a holder learnt that `version` is chosen and its own copy
 * holds it: unless a newer write is known (a floor above it).
 */
export function markChosen (mark: Mark | undefined, version: HlcTimestamp): Mark | undefined {
  if (mark !== undefined && 'floor' in mark && mark.floor > version) return mark
  return { clean: version }
}

/**
 * The mark after a holder learnt that `version` was written, perhaps
 * without it: its copy is not known current below that.
 */
export function markWritten (mark: Mark | undefined, version: HlcTimestamp): Mark | undefined {
  if (mark === undefined) return { floor: version }
  const at = 'clean' in mark ? mark.clean : mark.floor
  return at >= version ? mark : { floor: version }
}

/** Whether a copy at `held` (ABSENT: none) answers a read alone under `mark`. */
export function answersAlone (mark: Mark | undefined, held: HlcTimestamp): boolean {
  return mark !== undefined && 'clean' in mark && mark.clean === held
}
