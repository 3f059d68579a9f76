import type { Key } from '../store/index.js'
import type { Logger } from '../common/logger.js'
import type { Clock } from '../common/clock.js'
import type { Store } from '../store/index.js'

/** One key of an archive: what restore keeps besides the bytes. */
export interface ArchiveMeta {
  /** With its leading `/`. */
  key: Key
  size: number
  /** Hex sha256 of the bytes. */
  sha256: string
  /** Upload time, ms since the epoch. */
  created: number
  /** Expiry, ms since the epoch; null = permanent. */
  expires: number | null
  contentType: string
  /** The HLC version the backup read (informative: a restore writes a new version). */
  version?: string
}

/**
 * A live schedule as the archive keeps it: what a launch with `scheduled`
 * would send (restore creates it through the same path, so it is checked the
 * same way). Schedules a seed registers itself (its `schedule` export) are
 * not kept: the seed registers them again wherever it is.
 */
export interface ScheduleRecord {
  /** The seed, DIR/SCRIPT. */
  seed: string
  args: Record<string, unknown>
  /** The `scheduled` object of a launch: Pulzar's interval/time_unit/repeat, `every` or `cron`, with catchUp, maxCatchUp, overlap. */
  scheduled: Record<string, unknown>
  priority?: number
  timeoutMs?: number
  retries?: number
  dataKey?: string
  /** When it was created in the backed-up cluster, ms since the epoch (informative: ticks count again from the restore). */
  createdAt?: number
}

/** The coordinator's tables an archive carries. */
export interface BackupTables {
  /** Cluster settings (admin/config): name → the JSON text of its value. */
  settings: Record<string, string>
  schedules: ScheduleRecord[]
}

/** manifest.json, the first entry. */
export interface Manifest extends BackupTables {
  format: 'pmz-backup'
  v: 1
  /** When the backup started (ISO time). */
  createdAt: string
  /** The peer (gateway) that took it and its pmz version, or the Pulzar directory imported. */
  source: { peer: string, version: string } | { pulzarDir: string }
  /** Only keys starting with this were taken; null = every key. */
  prefix: string | null
}

/** trailer.json, the last entry. */
export interface Trailer {
  keys: number
  bytes: number
  /** sha256 over `key\nsha256\n` of every key entry, in archive order. */
  digest: string
  /** When the backup ended (ISO time). */
  finishedAt: string
}

/** What restoring the tables did. */
export interface TablesReport {
  settings: { restored: number, existing: number }
  /** `unknown_seed`: the seed is in no worker's seeds directory of this cluster; `invalid`: refused by the schedule checks. */
  schedules: { restored: number, existing: number, unknown_seed: number, invalid: number }
}

/** What a restore did (the data of POST /admin/restore's answer). */
export interface RestoreReport extends TablesReport {
  /** Key entries in the archive. */
  keys: number
  /** Written. */
  restored: number
  /** Bytes written. */
  bytes: number
  /** Skipped: the key holds a live value (without `overwrite`), or the very same value (with it). */
  existing: number
  /** Skipped: the key was deleted in this cluster (a tombstone) and `resurrect` was not asked. */
  deleted: number
  /** Skipped: its expiry has passed. */
  expired: number
}

/** Where a backup reads from: the cluster store and the coordinator's tables. */
export interface BackupSource {
  store: Pick<Store, 'list' | 'get'>
  /**
   * This peer's own copies, when it holds keys: a value whose local version
   * is the one the cluster listed is read here, without a quorum read over
   * the mesh; any other is read through `store`.
   */
  local?: Pick<Store, 'get'>
  tables(): Promise<BackupTables>
}

/** Where a restore writes to. */
export interface RestoreTarget {
  store: Pick<Store, 'put' | 'stat' | 'entry'>
  applyTables(tables: BackupTables, options: { overwrite: boolean }): Promise<TablesReport>
}

export interface BackupComponents { clock: Clock, log: Logger }
