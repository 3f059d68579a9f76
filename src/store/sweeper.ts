import type { Database } from 'lmdb'
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { PROMISE_TTL_MS, SWEEP_BATCH } from './constants.js'
import type { ValueRecord } from './record.js'
import type { IndexKey, Tables } from './tables.js'
import type { Key } from './key.js'

export interface SweeperInit {
  tombstoneGraceMs: number
  intervalMs: number
  /** Called for each live value the sweep removed because it expired. */
  onExpired: (key: Key) => void
}

/**
 * Removes expired values and tombstones past their grace period, every
 * `intervalMs`, a batch per transaction so that a sweep never holds the
 * writer long. Expired values need no tombstone: every replica computes the
 * same expiry.
 */
export class Sweeper {
  private timer: Timer | undefined
  private sweeping: Promise<void> | undefined
  private stopped = false

  constructor (private readonly c: { clock: Clock, log: Logger }, private readonly tables: Tables, private readonly init: SweeperInit) {}

  start (): void {
    this.timer = this.c.clock.setInterval(() => { void this.sweep().catch(err => this.c.log.error({ err }, 'sweep failed')) }, this.init.intervalMs)
  }

  /** Stops the timer and waits for a sweep in progress. */
  async stop (): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    await this.sweeping
  }

  async sweep (): Promise<void> {
    if (this.sweeping !== undefined) return await this.sweeping
    if (this.stopped) return
    this.sweeping = (async () => {
      try {
        const t = this.tables
        const expired = await this.sweepIndex(t.expiry, this.c.clock.now(), r => !r.deleted && r.expires !== null)
        for (const key of expired) this.init.onExpired(key)
        await this.sweepIndex(t.graves, this.c.clock.now() - this.init.tombstoneGraceMs, r => r.deleted)
        this.sweepPromises(this.c.clock.now() - PROMISE_TTL_MS)
      } finally {
        this.sweeping = undefined
      }
    })()
    return await this.sweeping
  }

  /**
   * Forgets Paxos promises whose ballot is older than `until` (ms): a 409, a
   * delete of nothing or a lost ballot leaves one that no record replaces.
   * Forgetting raises the floor to them (Promises), so nothing it promised
   * is ever broken.
   */
  private sweepPromises (until: number): void {
    this.tables.promised.forgetOlderThan(until)
  }

  /** Returns the keys whose records it removed. */
  private async sweepIndex (index: Database<null, IndexKey>, until: number, stillDue: (r: ValueRecord) => boolean): Promise<Key[]> {
    const t = this.tables
    const removed: Key[] = []
    for (;;) {
      const due = [...index.getKeys({ end: [until + 1], limit: SWEEP_BATCH })]
      if (due.length === 0) return removed
      const batch: Key[] = []
      const dropped: Uint8Array[] = []
      await t.commit(() => {
        batch.length = 0
        dropped.length = 0
        for (const [at, key] of due) {
          index.remove([at, key])
          const record = t.meta.get(key)
          if (record === undefined || !stillDue(record) || (record.deleted ? record.deletedAt : record.expires) !== at) continue
          t.dropRecord(key, record, dropped)
          t.writeMeta(key, undefined, record)
          batch.push(key)
        }
      })
      await t.removeBlobs(dropped)
      removed.push(...batch)
      if (due.length < SWEEP_BATCH) return removed
    }
  }
}
