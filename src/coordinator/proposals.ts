import type { Clock } from '../common/clock.js'
import { PmzError } from '../common/errors.js'
import type { Entry } from './entry.js'
import { noCoordinator } from './errors.js'

/** What propose() resolves with: where the command landed and what the state machine returned. */
export interface Proposal<R> {
  index: number
  term: number
  result: R
}

interface Pending {
  term: number
  batch: number
  resolve: (p: Proposal<unknown>) => void
  reject: (err: Error) => void
}

/**
 * Proposals appended by this leader and not yet applied, keyed by index.
 * Applying the entry at an index settles its proposal: resolved when the
 * entry is the one proposed (same term), rejected as lost when another
 * leader overwrote it. A deadline rejects what is still open: the outcome
 * is then unknown to the caller, which is why jobs carry their own ids.
 */
export class ProposalTracker {
  private readonly pending = new Map<number, Pending>()
  private batches = 0

  constructor (private readonly clock: Clock) {}

  get size (): number { return this.pending.size }

  /** Waits for the entries at `first..first+count-1` of `term`; register before appending (a sole voter applies at once). */
  track (first: number, count: number, term: number, deadline: number): Array<Promise<Proposal<unknown>>> {
    const batch = ++this.batches
    const promises = Array.from({ length: count }, (_, i) => new Promise<Proposal<unknown>>((resolve, reject) => {
      // An older proposal at this index was in a suffix another leader overwrote.
      this.settle(first + i, p => p.reject(noCoordinator('proposal lost to a new coordinator', { index: first + i, outcome: 'lost' })))
      this.pending.set(first + i, { term, batch, resolve, reject })
    }))
    // One timer per batch, not per entry.
    const timer = this.clock.setTimeout(() => {
      for (let i = first; i < first + count; i++) {
        if (this.pending.get(i)?.batch !== batch) continue
        this.settle(i, p => p.reject(noCoordinator('not committed before the deadline', { index: i, term, outcome: 'unknown' })))
      }
    }, Math.max(0, deadline - this.clock.monotonic()))
    void Promise.allSettled(promises).then(() => timer.cancel())
    return promises
  }

  /** The entry at `entry.index` was applied with `result` (or the state machine threw `error`). */
  applied (entry: Entry, result: unknown, error?: unknown): void {
    this.settle(entry.index, p => {
      if (p.term !== entry.term) p.reject(noCoordinator('proposal lost to a new coordinator', { index: entry.index, outcome: 'lost' }))
      else if (error !== undefined) p.reject(error instanceof Error ? error : new PmzError('ERR_INTERNAL', String(error)))
      else p.resolve({ index: entry.index, term: entry.term, result })
    })
  }

  /** A snapshot replaced the state machine up to `index`: results there are unknown. */
  skipped (index: number): void {
    for (const i of [...this.pending.keys()]) {
      if (i <= index) this.settle(i, p => p.reject(noCoordinator('proposal outcome unknown (snapshot installed)', { index: i, outcome: 'unknown' })))
    }
  }

  /** Rejects a batch that was registered but could not be appended. */
  forget (first: number, count: number, err: Error): void {
    for (let i = first; i < first + count; i++) this.settle(i, p => p.reject(err))
  }

  rejectAll (err: Error): void {
    for (const i of [...this.pending.keys()]) this.settle(i, p => p.reject(err))
  }

  private settle (index: number, fn: (p: Pending) => void): void {
    const p = this.pending.get(index)
    if (p === undefined) return
    this.pending.delete(index)
    fn(p)
  }
}
