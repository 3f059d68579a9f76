import type { Clock } from '../common/clock.js'
import { HELD_BYTES_BATCH, HELD_BYTES_MAX_AGE_MS } from './constants.js'
import type { ReplicaStore } from './types.js'

export interface HeldBytesComponents {
  store: Pick<ReplicaStore, 'entries'>
  clock: Clock
}

export interface HeldBytesInit {
  /** How long a count is served before the next walk, ms. @default HELD_BYTES_MAX_AGE_MS */
  maxAgeMs?: number
  /** Records per batch. @default HELD_BYTES_BATCH */
  batch?: number
}

/**
 * The value bytes a local store holds: the sizes of its records, tombstones
 * being 0 (an expired value counts until the sweeper removes it). Counted on
 * demand by a walk over the records, a batch at a time with a yield to the
 * event loop between batches, and kept for `maxAgeMs`: a metrics scrape every
 * few seconds costs one walk per interval, and no write pays anything (a
 * running total would have to follow every path that adds, replaces or drops
 * a record, and survive crashes between them).
 */
export class HeldBytes {
  private readonly maxAgeMs: number
  private readonly batch: number
  private last: { at: number, bytes: number } | undefined
  private walking: Promise<number> | undefined

  constructor (private readonly c: HeldBytesComponents, init: HeldBytesInit = {}) {
    this.maxAgeMs = init.maxAgeMs ?? HELD_BYTES_MAX_AGE_MS
    this.batch = Math.max(1, init.batch ?? HELD_BYTES_BATCH)
  }

  /** The last count when younger than `maxAgeMs`, else a new one (concurrent callers share one walk). */
  async read (): Promise<number> {
    if (this.last !== undefined && this.c.clock.monotonic() - this.last.at < this.maxAgeMs) return this.last.bytes
    this.walking ??= this.walk().finally(() => { this.walking = undefined })
    return await this.walking
  }

  private async walk (): Promise<number> {
    let bytes = 0
    let after: string | undefined
    for (;;) {
      const batch = await this.c.store.entries(after, this.batch)
      for (const e of batch) if (!e.deleted) bytes += e.size
      if (batch.length < this.batch) break
      after = batch[batch.length - 1].key
      await new Promise(resolve => setImmediate(resolve))
    }
    this.last = { at: this.c.clock.monotonic(), bytes }
    return bytes
  }
}
