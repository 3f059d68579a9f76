import { ABORT, type RootDatabase, type RootDatabaseOptions } from 'lmdb'

/** When a commit reaches the disk: the `[store] sync` setting. */
export type SyncMode = 'flush' | 'os'

/** LMDB environment options for a sync mode. */
export function syncOptions (mode: SyncMode): Partial<RootDatabaseOptions> {
  // flush: lmdb-js's default overlapping sync, whose commit waits for the disk off the writer lock.
  return mode === 'os' ? { noSync: true, overlappingSync: false } : {}
}

interface Queued {
  work: () => unknown
  resolve: (value: any) => void
  reject: (err: unknown) => void
}

/**
 * How a store's small write transactions reach LMDB. Every write of the store
 * goes through `run`, so that only one path ever holds LMDB's writer lock.
 *
 * - `flush`: LMDB's write thread runs the work; the works queued in one event
 *   turn share a transaction and one fsync, and `run` resolves once that is on
 *   the disk.
 * - `os`: nothing waits for the disk, so the commit itself is cheap (~15 µs).
 *   The works queued in one event turn run in one synchronous transaction on
 *   this thread at the end of the turn: no hop to the write thread and back,
 *   which at five concurrent 1 KB PUTs was most of a write's latency.
 *
 * Either way a work that throws writes nothing and fails alone. A work may
 * run more than once (when another in its batch threw), so it must reset what
 * it collects.
 */
export class Commits {
  private queued: Queued[] = []

  constructor (private readonly env: RootDatabase, private readonly mode: SyncMode) {}

  async run<T> (work: () => T): Promise<T> {
    if (this.mode === 'flush') {
      // A child transaction, so that a work that throws takes back its own writes only.
      const result = await this.env.childTransaction(work)
      await this.env.flushed
      return result
    }
    return await new Promise<T>((resolve, reject) => {
      if (this.queued.push({ work, resolve, reject }) === 1) setImmediate(this.runQueued)
    })
  }

  /** Commits what is queued now (before the environment closes). */
  drain (): void {
    if (this.queued.length > 0) this.runQueued()
  }

  private readonly runQueued = (): void => {
    const batch = this.queued
    this.queued = []
    if (batch.length === 0) return
    const results: unknown[] = []
    let failed = false
    try {
      this.env.transactionSync(() => {
        for (const q of batch) {
          try {
            results.push(q.work())
          } catch {
            failed = true
            return ABORT
          }
        }
        return undefined
      })
    } catch (err) {
      for (const q of batch) q.reject(err)
      return
    }
    if (!failed) {
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i])
      return
    }
    // One work threw, and the batch was aborted: run each alone, so that only that one fails.
    for (const q of batch) {
      try {
        q.resolve(this.env.transactionSync(q.work))
      } catch (err) {
        q.reject(err)
      }
    }
  }
}
