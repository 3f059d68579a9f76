import { ABORT, type RootDatabase, type RootDatabaseOptions } from 'lmdb'

/** When a commit reaches the disk: the `[store] sync` setting. */
export type SyncMode = 'flush' | 'os'

/** LMDB environment options for a sync mode. */
export function syncOptions (mode: SyncMode): Partial<RootDatabaseOptions> {
  // flush: lmdb-js's default overlapping sync, whose commit waits for the disk off the writer lock.
  // No event-turn batching: it starts each batch with a write whose promise lmdb-js keeps to itself,
  // so a failed commit (a full disk) rejected it unhandled and the process exited. Writes queued in one
  // turn still share a transaction (lmdb-js starts it on setImmediate).
  return mode === 'os' ? { noSync: true, overlappingSync: false, eventTurnBatching: false } : { eventTurnBatching: false }
}

/** Turns a failed commit (not a work that threw) into the error its callers get. */
export type CommitFailure = (err: unknown) => unknown

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
 * Either way a work that throws writes nothing and fails alone, with its own
 * error. A work may run more than once (when another in its batch threw), so
 * it must reset what it collects. A commit that fails (a full disk) fails
 * every work of its transaction with `onFailure(err)`; the environment stays
 * usable, and later commits succeed once the disk has room again.
 */
export class Commits {
  private queued: Queued[] = []

  constructor (private readonly env: RootDatabase, private readonly mode: SyncMode, private readonly onFailure: CommitFailure = err => err) {}

  async run<T> (work: () => T): Promise<T> {
    if (this.mode === 'flush') {
      const guarded = new GuardedWork(work)
      try {
        // A child transaction, so that a work that throws takes back its own writes only.
        const result = await this.env.childTransaction(guarded.run)
        await this.env.flushed
        return result
      } catch (err) {
        if (guarded.threw) throw err
        throw this.onFailure(await commitCause(err))
      }
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
      const failure = this.onFailure(err)
      for (const q of batch) q.reject(failure)
      return
    }
    if (!failed) {
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i])
      return
    }
    // One work threw, and the batch was aborted: run each alone, so that only that one fails.
    for (const q of batch) {
      const guarded = new GuardedWork(q.work)
      try {
        q.resolve(this.env.transactionSync(guarded.run))
      } catch (err) {
        q.reject(guarded.threw ? err : this.onFailure(err))
      }
    }
  }
}

/** Tells a work that threw from a commit that failed. */
class GuardedWork<T> {
  threw = false
  constructor (private readonly work: () => T) {}
  readonly run = (): T => {
    try {
      return this.work()
    } catch (err) {
      this.threw = true
      throw err
    }
  }
}

/**
 * The cause of an async commit that failed. lmdb-js rejects the write with
 * "Commit failed (see commitError for details)" and the cause with a second
 * promise, `commitError`, nobody else awaits: handle it (or the process exits
 * on an unhandled rejection) and take its reason (ENOSPC, EIO, MDB_MAP_FULL).
 * It is rejected in the same callback as the write, so one turn is enough.
 */
async function commitCause (err: unknown): Promise<unknown> {
  const pending = (err as { commitError?: unknown } | undefined)?.commitError
  if (!(pending instanceof Promise)) return err
  const cause = await Promise.race([
    pending.then(() => undefined, (reason: unknown) => reason),
    new Promise<undefined>(resolve => setImmediate(resolve, undefined))
  ])
  return cause ?? err
}
