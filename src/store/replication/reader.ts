import { Readable } from 'node:stream'
import { TIMED_OUT, beforeTimeout, type Clock } from '../../common/clock.js'
import { PmzError, isPmzError, notFound } from '../../common/errors.js'
import type { HlcTimestamp } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Key } from '../key.js'
import { entryToMeta, isLiveEntry, type ReplicaEntry } from '../record.js'
import type { ReplicaStore, StoredValue } from '../types.js'
import { INLINE_MAX_BYTES, SURVEY_SPECULATE_MS } from './constants.js'
import { ABSENT, type LeaseHolder } from './leases.js'
import type { Placement, Target } from './placement.js'
import { newestOf, type SurveyAnswer } from './read-repair.js'
import type { ReplicaClient } from './replica-client.js'
import type { Survey } from './survey.js'

export interface ReaderComponents {
  /** This peer's own store. */
  local: ReplicaStore
  client: ReplicaClient
  placement: Placement
  surveys: Survey
  /** The read leases this peer holds, and what it knows of its copies. */
  leases: LeaseHolder
  clock: Clock
  log: Logger
}

/** A read's answer from one replica: the key's record as the read sees it, and its value when live and held there. */
export interface ReadAnswer { entry: ReplicaEntry | undefined, value?: StoredValue }

/**
 * The read path of ReplicatedStore for a key with replicas other than this
 * peer, in the order it is tried:
 * 1. this peer's own copy alone, when it is a replica holding read leases
 *    and its copy is at the version known chosen (LeaseHolder.mayAnswer);
 * 2. through a peer with no copy, the key's first replica, asked to read it
 *    (readHere: alone, or by its own survey), one question;
 * 3. a survey of R replicas (Survey), newest version wins, bytes from the
 *    nearest holder. A survey that finds this peer's copy at the newest
 *    version on a write quorum marks it chosen, for step 1 next time.
 */
export class Reader {
  /** Reads answered by this peer's own copy alone, and by a survey (ReplicationStats.reads). */
  readonly counts = { alone: 0, surveyed: 0 }

  constructor (private readonly c: ReaderComponents) {}

  /** The newest record of the key (a tombstone or an expired value included), as a read sees it. */
  async entry (key: Key, targets: Target[]): Promise<ReplicaEntry | undefined> {
    const alone = this.c.leases.mayAnswer(key, targets) ? await this.ownEntry(key) : undefined
    return (alone ?? { entry: newestOf(await this.survey(key, targets)) }).entry
  }

  /**
   * The key's live value. A survey's first remote replica, on a peer that
   * holds no copy, answers with the bytes of a small value too (`fetch`),
   * so a read usually takes one round trip: those bytes when they are the
   * newest version, else this peer's own copy, else a read from the nearest
   * holder (the first to answer).
   */
  async get (key: Key, targets: Target[], signal?: AbortSignal): Promise<StoredValue> {
    const replica = targets.some(t => t.isSelf)
    const alone = replica ? await this.readAlone(key, targets) : undefined
    if (alone?.value !== undefined) return alone.value
    if (alone !== undefined) throw notFound('key not found')
    const through = replica ? undefined : await this.readThroughReplica(key, targets)
    if (through === 'absent') throw notFound('key not found')
    if (through !== undefined) return through
    const answers = await this.survey(key, targets, { fetch: true })
    const newest = newestOf(answers)
    if (!isLiveEntry(newest, this.c.clock.now())) throw notFound('key not found')
    const holders = answers.filter(a => a.entry?.version === newest.version)
    const inline = holders.find(a => a.bytes !== undefined)
    if (inline?.bytes !== undefined) return { meta: entryToMeta(newest), body: inline.bytes }
    holders.sort((a, b) => Number(b.target.isSelf) - Number(a.target.isSelf))
    let lastErr: unknown
    for (const a of holders) {
      try {
        return await this.c.client.read(a.target, key, signal)
      } catch (err) {
        lastErr = err
        this.c.log.warn({ err, key, replica: a.target.peerId }, 'replica read failed, trying the next')
      }
    }
    throw lastErr ?? new PmzError('ERR_UNAVAILABLE', 'no replica could serve the key', { details: { key } })
  }

  /**
   * A read of `key` through this peer as one of its replicas, for a peer
   * that holds no copy (serveReplica's `store.fetch` with `read`): alone
   * under the read lease, else by its own survey; the value only when this
   * peer's copy is the newest. Undefined when this peer is no replica.
   */
  async readHere (key: Key): Promise<ReadAnswer | undefined> {
    const targets = this.c.placement.targets(key)
    if (!targets.some(t => t.isSelf)) return undefined
    const alone = await this.readAlone(key, targets)
    if (alone !== undefined) return alone
    const answers = await this.survey(key, targets)
    const entry = newestOf(answers)
    const own = answers.find(a => a.target.isSelf)?.entry
    if (!isLiveEntry(entry, this.c.clock.now()) || own?.version !== entry.version || entry.size > INLINE_MAX_BYTES) return { entry }
    try {
      const value = await this.localValue(key, version => version === entry.version)
      if (value !== undefined) return { entry, value }
    } catch {}
    return { entry }
  }

  /**
   * This peer's own copy when a read lease lets it answer alone
   * (LeaseHolder.mayAnswer, then its copy at the version marked chosen):
   * the value when live, else the record; undefined: survey.
   */
  private async readAlone (key: Key, targets: Target[]): Promise<ReadAnswer | undefined> {
    if (!this.c.leases.mayAnswer(key, targets)) return undefined
    let value: StoredValue | undefined
    try {
      value = await this.localValue(key, version => this.c.leases.answers(key, version))
    } catch (err) {
      // Deleted, expired or absent here: the record says whether that is the answer. A bad copy: the survey reads another.
      return isPmzError(err, 'ERR_NOT_FOUND') ? await this.ownEntry(key) : undefined
    }
    if (value === undefined) return undefined
    this.counts.alone++
    return { entry: undefined, value }
  }

  /** This peer's own record when it answers alone (its version marked chosen); undefined: survey. */
  private async ownEntry (key: Key): Promise<ReadAnswer | undefined> {
    const entry = await this.c.local.entry(key)
    if (!this.c.leases.answers(key, entry?.version ?? ABSENT)) return undefined
    this.counts.alone++
    return { entry }
  }

  /** This peer's own live value when `wanted` takes its version, else undefined (a stream read is dropped). Throws what the local read throws. */
  private async localValue (key: Key, wanted: (version: HlcTimestamp) => boolean): Promise<StoredValue | undefined> {
    const value = await this.c.local.get(key)
    if (wanted(value.meta.version)) return value
    if (value.body instanceof Readable) value.body.destroy()
    return undefined
  }

  /**
   * A read through a peer that holds no copy: the key's first live replica
   * reads it (readHere: usually alone under its read lease), one question
   * instead of a survey. Undefined when that does not answer it (a large
   * value, slower than SURVEY_SPECULATE_MS, failed): the survey follows.
   */
  private async readThroughReplica (key: Key, targets: Target[]): Promise<StoredValue | 'absent' | undefined> {
    const first = this.c.placement.readOrder(key, targets)[0]
    if (first === undefined || first.isSelf) return undefined
    const answer = await beforeTimeout(this.c.clock, this.c.client.fetch(first, key, { read: true }).catch(() => undefined), SURVEY_SPECULATE_MS)
    if (answer === TIMED_OUT || answer?.read !== true) return undefined
    if (!isLiveEntry(answer.entry, this.c.clock.now())) return 'absent'
    return answer.bytes !== undefined ? { meta: entryToMeta(answer.entry), body: answer.bytes } : undefined
  }

  /**
   * A survey (Survey.run) that also tells the read leases what it proved:
   * this peer's own copy at the newest version, held by a write quorum (or
   * absent from R replicas), is chosen.
   */
  private async survey (key: Key, targets: Target[], how: { fetch?: boolean } = {}): Promise<SurveyAnswer[]> {
    const epoch = this.c.leases.epoch()
    this.counts.surveyed++
    const answers = await this.c.surveys.run(key, targets, how)
    const own = answers.find(a => a.target.isSelf)
    const { placement } = this.c
    const r = placement.n() - placement.w() + 1
    if (own === undefined || answers.length < r) return answers
    const version = newestOf(answers)?.version ?? ABSENT
    const held = answers.filter(a => (a.entry?.version ?? ABSENT) === version).length
    if ((own.entry?.version ?? ABSENT) === version && held >= (version === ABSENT ? r : placement.w())) this.c.leases.chosen(key, version, epoch)
    return answers
  }
}
