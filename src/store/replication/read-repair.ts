import type { Clock } from '../../common/clock.js'
import { compareHlc } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import { isLiveEntry, type ReplicaEntry } from '../record.js'
import { MAX_CONCURRENT_REPAIRS } from './constants.js'
import type { Target } from './placement.js'
import type { ReplicaClient } from './replica-client.js'
import type { Key } from '../key.js'

/** One replica's answer to a survey: its record of the key (undefined when it holds none), and the bytes of a small value when asked for. */
export interface SurveyAnswer {
  target: Target
  entry: ReplicaEntry | undefined
  /** The value's bytes, already checked against the entry's size and sha256. */
  bytes?: Buffer
}

/** The newest record among the answers (last writer wins by HLC), undefined when nobody holds one. */
export function newestOf (answers: SurveyAnswer[]): ReplicaEntry | undefined {
  let newest: ReplicaEntry | undefined
  for (const a of answers) {
    if (a.entry !== undefined && (newest === undefined || compareHlc(a.entry.version, newest.version) > 0)) newest = a.entry
  }
  return newest
}

/**
 * Read repair (Dynamo §4.7): after a read surveyed the replicas of a key,
 * replicas that hold an older record or none get the newest one pushed, in
 * the background: a tombstone as a tombstone, a value streamed from a
 * replica that holds it. At most one repair per key at a time, and at most
 * MAX_CONCURRENT_REPAIRS in all (a skipped one is caught by a later read).
 */
export class ReadRepair {
  private readonly inFlight = new Map<string, Promise<void>>()
  /** Records pushed to stale replicas so far. */
  repaired = 0
  /** Value bytes of those records (tombstones count 0). */
  repairedBytes = 0

  constructor (private readonly client: ReplicaClient, private readonly clock: Clock, private readonly log: Logger) {}

  schedule (key: Key, answers: SurveyAnswer[], newest: ReplicaEntry | undefined): void {
    if (newest === undefined) return
    const stale = answers.filter(a => a.entry === undefined || compareHlc(a.entry.version, newest.version) < 0).map(a => a.target)
    if (stale.length === 0 || this.inFlight.has(key) || this.inFlight.size >= MAX_CONCURRENT_REPAIRS) return
    const holders = answers.filter(a => a.entry?.version === newest.version).map(a => a.target)
    const run = this.repair(key, newest, stale, holders)
      .catch(err => { this.log.warn({ err, key }, 'read repair failed') })
      .finally(() => { this.inFlight.delete(key) })
    this.inFlight.set(key, run)
  }

  /** Resolves once every repair started so far has ended. */
  async idle (): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight.values()])
  }

  private async repair (key: Key, newest: ReplicaEntry, stale: Target[], holders: Target[]): Promise<void> {
    for (const target of stale) {
      if (newest.deleted) {
        await this.client.tombstone(target, key, newest.version, newest.deletedAt ?? this.clock.now(), { origin: newest.origin })
      } else if (isLiveEntry(newest, this.clock.now())) {
        await this.client.copy(key, holders, target, { version: newest.version })
        this.repairedBytes += newest.size
      } else {
        continue // expired: every replica's sweeper drops it on its own
      }
      this.repaired++
      this.log.debug({ key, replica: target.peerId, version: newest.version }, 'read repair')
    }
  }


}
