import type { Entry, HardState, Snapshot } from './entry.js'

/** Everything a server persisted, as read back at start. */
export interface PersistedState {
  hard: HardState
  snapshot: Snapshot | undefined
  /** Contiguous entries after the snapshot (or from index 1), ascending. */
  entries: Entry[]
}

/**
 * One atomic, durable write. Applied in this order: `truncateFrom` deletes
 * entries at and after that index; `snapshot` replaces the snapshot and
 * deletes the entries it covers; `entries` are appended; `hard` replaces the
 * term and vote.
 */
export interface RaftWrite {
  hard?: HardState
  truncateFrom?: number
  snapshot?: Snapshot
  entries?: Entry[]
}

/**
 * Where a server keeps its promises. Synchronous on purpose: Raft must not
 * answer a vote or an append before the write behind it is durable, and a
 * synchronous write makes that ordering impossible to get wrong.
 */
export interface RaftStorage {
  load(): PersistedState
  write(w: RaftWrite): void
  /** Releases files; the in-memory storage keeps its data for a later "restart". */
  close(): Promise<void>
}

/**
 * Storage in memory, for tests and simulations. A crash is simulated by
 * dropping the Coordinator and building a new one on the same object: what
 * was written survives, nothing else does.
 */
export class MemoryRaftStorage implements RaftStorage {
  private hard: HardState = { term: 0, votedFor: null }
  private snapshot: Snapshot | undefined
  private entries: Entry[] = []
  /** Writes so far (tests use it to see that a step persisted). */
  writes = 0

  load (): PersistedState {
    return { hard: { ...this.hard }, snapshot: this.snapshot, entries: [...this.entries] }
  }

  write (w: RaftWrite): void {
    this.writes++
    if (w.truncateFrom !== undefined) {
      const from = w.truncateFrom
      this.entries = this.entries.filter(e => e.index < from)
    }
    if (w.snapshot !== undefined) {
      const upTo = w.snapshot.index
      this.snapshot = w.snapshot
      this.entries = this.entries.filter(e => e.index > upTo)
    }
    if (w.entries !== undefined && w.entries.length > 0) {
      const first = w.entries[0].index
      const last = this.entries.at(-1)?.index ?? this.snapshot?.index ?? 0
      if (first !== last + 1) throw new Error(`non-contiguous append: ${first} after ${last}`)
      this.entries.push(...w.entries)
    }
    if (w.hard !== undefined) this.hard = { ...w.hard }
  }

  async close (): Promise<void> {}
}
