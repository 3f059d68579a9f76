import { emptyConfig, entryBytes, type ClusterConfig, type Entry, type HardState, type Snapshot } from './entry.js'
import type { RaftStorage } from './storage.js'

/**
 * The log as a server sees it: the latest snapshot plus the entries after
 * it, all in memory (compaction keeps them few) and written through to
 * {@link RaftStorage} before any method returns.
 */
export class RaftLog {
  private entries: Entry[]
  private snap: Snapshot
  hard: HardState

  constructor (private readonly storage: RaftStorage) {
    const state = storage.load()
    this.hard = state.hard
    this.snap = state.snapshot ?? { index: 0, term: 0, config: emptyConfig(), data: new Uint8Array(0) }
    this.entries = state.entries.filter(e => e.index > this.snap.index)
  }

  get snapshot (): Snapshot { return this.snap }
  get snapshotIndex (): number { return this.snap.index }
  get firstIndex (): number { return this.snap.index + 1 }
  get lastIndex (): number { return this.snap.index + this.entries.length }
  get lastTerm (): number { return this.entries.at(-1)?.term ?? this.snap.term }
  /** Entries held after the snapshot. */
  get size (): number { return this.entries.length }

  /** The term of the entry at `index`; undefined when it is compacted away (before the snapshot) or beyond the end. */
  term (index: number): number | undefined {
    if (index === this.snap.index) return this.snap.term
    return this.entry(index)?.term
  }

  entry (index: number): Entry | undefined {
    return index > this.snap.index ? this.entries[index - this.snap.index - 1] : undefined
  }

  /** Entries from `from` on, at most `maxEntries` and about `maxBytes` (always at least one when there is one). */
  slice (from: number, maxEntries: number, maxBytes: number): Entry[] {
    const out: Entry[] = []
    let bytes = 0
    for (let i = Math.max(from, this.firstIndex); i <= this.lastIndex && out.length < maxEntries; i++) {
      const e = this.entry(i) as Entry
      bytes += entryBytes(e)
      if (out.length > 0 && bytes > maxBytes) break
      out.push(e)
    }
    return out
  }

  /** Appends after the last entry; with `truncateFrom`, first drops the entries from there on (a conflicting suffix). */
  append (entries: Entry[], truncateFrom?: number, hard?: HardState): void {
    this.storage.write({ truncateFrom, entries, hard })
    if (truncateFrom !== undefined) this.entries.length = Math.max(0, truncateFrom - this.firstIndex)
    this.entries.push(...entries)
    if (hard !== undefined) this.hard = hard
  }

  setHardState (hard: HardState): void {
    if (hard.term === this.hard.term && hard.votedFor === this.hard.votedFor) return
    this.storage.write({ hard })
    this.hard = hard
  }

  /**
   * Installs `snap`. When the log holds the snapshot's last entry (same term),
   * the entries after it stay (log compaction, or a snapshot the follower
   * partly has); otherwise the whole log goes (Raft §7).
   */
  installSnapshot (snap: Snapshot): void {
    const keep = this.term(snap.index) === snap.term
    this.storage.write({ snapshot: snap, truncateFrom: keep ? undefined : snap.index + 1 })
    this.entries = keep ? this.entries.slice(snap.index - this.snap.index) : []
    this.snap = snap
  }

  /** Size of the snapshot's state machine data. */
  get snapshotBytes (): number { return this.snap.data.byteLength }

  /** Index of the last entry of `term` at or before `atOrBefore`, or undefined (for the leader's fast backtracking). */
  lastIndexOfTerm (term: number, atOrBefore: number): number | undefined {
    for (let i = Math.min(atOrBefore, this.lastIndex); i >= this.snap.index; i--) {
      const t = this.term(i) as number
      if (t === term) return i
      if (t < term) return undefined
    }
    return undefined
  }

  /** First index of the run of entries that share `index`'s term (for the follower's conflict hint). */
  firstIndexOfTermAt (index: number): number {
    const term = this.term(index)
    let i = index
    while (i - 1 > this.snap.index && this.term(i - 1) === term) i--
    return i
  }

  /** The configuration in force at `index`: the last config entry at or before it, else the snapshot's. */
  configAt (index: number): { config: ClusterConfig, index: number } {
    for (let i = Math.min(index, this.lastIndex); i > this.snap.index; i--) {
      const e = this.entry(i) as Entry
      if (e.type === 'config') return { config: e.config, index: i }
    }
    return { config: this.snap.config, index: this.snap.index }
  }
}
