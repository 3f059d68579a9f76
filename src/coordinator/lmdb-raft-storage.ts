import { mkdirSync } from 'node:fs'
import { open, type Database, type RootDatabase } from 'lmdb'
import { PmzError } from '../common/errors.js'
import type { Entry, HardState, Snapshot } from './entry.js'
import type { PersistedState, RaftStorage, RaftWrite } from './storage.js'

export interface LmdbRaftStorageInit {
  /** Directory of the LMDB environment (created when missing); the coordinator's own, not the store's. */
  dir: string
  /**
   * `fsync`: every write is flushed before it returns, so a restarted voter
   * keeps its promises even across a power loss. `os`: the OS flushes when it
   * likes (survives kill -9, not a power cut); for benchmarks. @default 'fsync'
   */
  sync?: 'fsync' | 'os'
}

/**
 * Raft state in LMDB: `meta` holds the hard state and the snapshot's
 * metadata and bytes, `log` the entries keyed by index (ordered-binary keys
 * keep numbers in order). Each {@link RaftWrite} is one synchronous
 * transaction, so a crash leaves either all of it or none.
 */
export class LmdbRaftStorage implements RaftStorage {
  private readonly env: RootDatabase
  private readonly meta: Database<unknown, string>
  private readonly log: Database<Entry, number>
  private closing: Promise<void> | undefined

  constructor (init: LmdbRaftStorageInit) {
    try {
      mkdirSync(init.dir, { recursive: true })
      this.env = open({
        path: init.dir,
        maxDbs: 4,
        // Off, so transactionSync returns only once the commit is flushed (the default overlaps the flush with later work).
        overlappingSync: false,
        ...(init.sync === 'os' ? { noSync: true } : {})
      })
      this.meta = this.env.openDB({ name: 'meta', encoding: 'msgpack' })
      this.log = this.env.openDB({ name: 'log', encoding: 'msgpack' })
    } catch (cause) {
      throw new PmzError('ERR_STORE_IO', `cannot open the raft log in ${init.dir}`, { cause })
    }
  }

  load (): PersistedState {
    try {
      return this.read()
    } catch (cause) {
      throw new PmzError('ERR_STORE_IO', 'cannot read the raft log', { cause })
    }
  }

  private read (): PersistedState {
    const hard = (this.meta.get('hard') as HardState | undefined) ?? { term: 0, votedFor: null }
    const snapshot = this.meta.get('snapshot') as Snapshot | undefined
    const entries: Entry[] = []
    // Copies: a decoded binary may be a view of a buffer LMDB reuses.
    for (const { value } of this.log.getRange({})) entries.push(value.type === 'cmd' ? { ...value, data: new Uint8Array(value.data) } : value)
    return { hard, snapshot: snapshot === undefined ? undefined : { ...snapshot, data: new Uint8Array(snapshot.data) }, entries }
  }

  write (w: RaftWrite): void {
    try {
      this.env.transactionSync(() => {
        if (w.truncateFrom !== undefined) {
          for (const key of [...this.log.getKeys({ start: w.truncateFrom })]) this.log.removeSync(key)
        }
        if (w.snapshot !== undefined) {
          for (const key of [...this.log.getKeys({ end: w.snapshot.index + 1 })]) this.log.removeSync(key)
          this.meta.putSync('snapshot', w.snapshot)
        }
        for (const e of w.entries ?? []) this.log.putSync(e.index, e)
        if (w.hard !== undefined) this.meta.putSync('hard', w.hard)
      })
    } catch (cause) {
      throw new PmzError('ERR_STORE_IO', 'raft log write failed', { cause })
    }
  }

  async close (): Promise<void> {
    this.closing ??= this.env.close()
    await this.closing
  }
}
