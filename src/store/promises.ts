import { decodeHlc, encodeHlc, type HlcTimestamp } from '../common/hlc.js'
import type { Key } from './key.js'

/** Ballot time a raise of the high-water mark covers ahead of the ballot that needed it, ms: about one durable commit per second of ballots. */
export const HIGH_WATER_STEP_MS = 1000
/** Promises held before those a written record made moot are dropped, and then the oldest (raising the floor). */
export const PROMISES_CAP = 20_000

/** What the promises need of the store they belong to. */
export interface PromisesHost {
  /** Makes `mark` durable: after a crash, `start` gets it back as its floor. */
  persist: (mark: HlcTimestamp) => Promise<void>
  /** The version of the key's committed record, if any. */
  versionOf: (key: Key) => HlcTimestamp | undefined
}

/**
 * The Paxos promises of a replica's per-key acceptors (Acceptor), kept in
 * memory rather than committed one by one: a promise must outlive a crash,
 * and what outlives it here is a high-water mark. Before a ballot above the
 * mark is promised, the mark is raised past it and made durable (one commit
 * per HIGH_WATER_STEP_MS of ballot time, not one per write); after a restart
 * every key counts as promised up to the mark (the floor), so no ballot it
 * may have promised before is ever accepted below. A proposal that meets the
 * floor learns it and tries again with a newer ballot, as after any lost
 * ballot.
 *
 * Forgetting a promise is always safe the same way: the floor rises to it.
 * Promises that a committed record of their ballot or a newer one made moot
 * are simply dropped (the record's version refuses older ballots itself).
 */
export class Promises {
  private readonly byKey = new Map<Key, HlcTimestamp>()
  private floor: HlcTimestamp
  private durable: HlcTimestamp
  private raising: { to: HlcTimestamp, done: Promise<void> } | undefined
  private readonly cap: number

  constructor (private readonly host: PromisesHost, init: { floor: HlcTimestamp, cap?: number }) {
    this.floor = init.floor
    this.durable = init.floor
    this.cap = init.cap ?? PROMISES_CAP
  }

  /** The ballot `key` is promised at: its own promise or the floor, whichever is newer; undefined when neither. */
  of (key: Key): HlcTimestamp | undefined {
    const own = this.byKey.get(key)
    const p = own === undefined || own < this.floor ? this.floor : own
    return p === '' ? undefined : p
  }

  /** Whether `ballot` may be promised without raising the high-water mark first (see cover). */
  covers (ballot: HlcTimestamp): boolean {
    return ballot < this.durable
  }

  /** Resolves once the high-water mark is durably above `ballot`. */
  async cover (ballot: HlcTimestamp): Promise<void> {
    while (!this.covers(ballot)) {
      if (this.raising === undefined || this.raising.to <= ballot) {
        const to = encodeHlc({ wall: decodeHlc(ballot).wall + HIGH_WATER_STEP_MS, logical: 0, peerId: '' })
        const done = this.host.persist(to).then(() => {
          if (to > this.durable) this.durable = to
        }).finally(() => {
          if (this.raising?.to === to) this.raising = undefined
        })
        this.raising = { to, done }
      }
      await this.raising.done
    }
  }

  /** Promises `ballot` for `key` (covered: see cover). */
  promise (key: Key, ballot: HlcTimestamp): void {
    if (!this.covers(ballot)) throw new Error('a promise above the durable high-water mark')
    this.byKey.delete(key)
    this.byKey.set(key, ballot)
    if (this.byKey.size > this.cap) this.trim()
  }

  /** Forgets promises whose ballot is older than `wall` (ms): the floor rises to them. */
  forgetOlderThan (wall: number): void {
    for (const [key, ballot] of this.byKey) {
      if (decodeHlc(ballot).wall >= wall) continue
      this.forget(key, ballot)
    }
  }

  get size (): number {
    return this.byKey.size
  }

  /** Drops moot promises; past half the cap still, the oldest (insertion order is promise order). */
  private trim (): void {
    for (const [key, ballot] of this.byKey) {
      const v = this.host.versionOf(key)
      if (v !== undefined && v >= ballot) this.byKey.delete(key)
    }
    for (const [key, ballot] of this.byKey) {
      if (this.byKey.size <= this.cap / 2) break
      this.forget(key, ballot)
    }
  }

  private forget (key: Key, ballot: HlcTimestamp): void {
    this.byKey.delete(key)
    if (ballot > this.floor) this.floor = ballot
  }
}
