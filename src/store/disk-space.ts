import { statfsSync } from 'node:fs'
import type { Clock } from '../common/clock.js'
import { PmzError, isPmzError } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { DISK_CHECK_INTERVAL_MS, NO_SPACE_SLACK_BYTES } from './constants.js'

const MIB = 1024 * 1024

/** The file system holding the data dir, as `admin/status` shows it. */
export interface DiskUsage {
  /** MiB an unprivileged writer may still use (statfs `bavail`). */
  free_mb: number
  /** Size of the file system, MiB. */
  total_mb: number
  /** The floor (`[store] min_free_mb`) under which the peer takes no new values. */
  min_free_mb: number
  /** False while free space is below the floor: new values (client writes and replicas) answer 507. */
  accepting_writes: boolean
}

/** What statfs says, in bytes; injectable so that tests can fake a full disk. */
export type StatDisk = (dir: string) => { freeBytes: number, totalBytes: number }

export interface DiskSpaceComponents { clock: Clock, log: Logger, statDisk?: StatDisk }
export interface DiskSpaceInit {
  dir: string
  /** @default 0 (no floor) */
  minFreeBytes?: number
}

/** errno names and LMDB codes that mean "the disk (or LMDB's map) is full". */
const NO_SPACE_CODES = new Set<unknown>(['ENOSPC', 'EDQUOT', 28, -28, 122, -122, -30792 /* MDB_MAP_FULL */])
const EIO_CODES = new Set<unknown>(['EIO', 5, -5])

/** Whether an error (from fs, or from LMDB) says that the disk or LMDB's map is full. */
export function isNoSpaceError (err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code
  return NO_SPACE_CODES.has(code) || /MDB_MAP_FULL|no space left/i.test(String((err as Error | undefined)?.message))
}

export const statDisk: StatDisk = (dir) => {
  const s = statfsSync(dir)
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize }
}

/**
 * Free space where a store keeps its data: the floor under which it takes no
 * new value (so that deletes and the LMDB metadata of what is already stored
 * still find room), and the reading of a failed write as "disk full" (507)
 * or "I/O error" (500).
 */
export class DiskSpace {
  private readonly minFreeBytes: number
  private readonly stat: StatDisk
  private last: { at: number, freeBytes: number, totalBytes: number } | undefined
  private below = false

  constructor (private readonly c: DiskSpaceComponents, private readonly init: DiskSpaceInit) {
    this.minFreeBytes = init.minFreeBytes ?? 0
    this.stat = c.statDisk ?? statDisk
  }

  usage (): DiskUsage {
    const { freeBytes, totalBytes } = this.read(true)
    return {
      free_mb: Math.floor(freeBytes / MIB),
      total_mb: Math.floor(totalBytes / MIB),
      min_free_mb: Math.round(this.minFreeBytes / MIB * 100) / 100,
      accepting_writes: !this.below
    }
  }

  /** Before taking a new value in: ERR_NO_SPACE while free space is below the floor. Logs once per crossing. */
  admit (): void {
    if (this.minFreeBytes <= 0) return
    this.read(false)
    if (this.below) throw this.noSpace('free space on the data disk is below the configured floor (min_free_mb)')
  }

  /**
   * The error a failed write becomes: ERR_NO_SPACE when the disk (or LMDB's
   * map) is full, ERR_STORE_IO otherwise; a PmzError stays as it is. LMDB
   * reports a write cut short by a full disk as EIO, so an EIO counts as
   * "full" when little space is left.
   */
  classify (err: unknown, what: string): PmzError {
    if (isPmzError(err)) return err
    const code = (err as { code?: unknown } | undefined)?.code
    const full = isNoSpaceError(err) || (EIO_CODES.has(code) && this.read(true).freeBytes < Math.max(NO_SPACE_SLACK_BYTES, this.minFreeBytes))
    if (full) return this.noSpace(`${what}: no space left on the data disk`, err)
    return new PmzError('ERR_STORE_IO', `${what} failed`, { cause: err })
  }

  private noSpace (message: string, cause?: unknown): PmzError {
    const u = this.last
    return new PmzError('ERR_NO_SPACE', message, {
      cause,
      details: u === undefined ? undefined : { freeMb: Math.floor(u.freeBytes / MIB), minFreeMb: this.minFreeBytes / MIB }
    })
  }

  /** statfs, at most once per DISK_CHECK_INTERVAL_MS unless `fresh`; updates the floor state. */
  private read (fresh: boolean): { freeBytes: number, totalBytes: number } {
    const now = this.c.clock.monotonic()
    if (!fresh && this.last !== undefined && now - this.last.at < DISK_CHECK_INTERVAL_MS) return this.last
    let s: { freeBytes: number, totalBytes: number }
    try {
      s = this.stat(this.init.dir)
    } catch (err) {
      this.c.log.warn({ err, dir: this.init.dir }, 'reading free disk space failed')
      return this.last ?? { freeBytes: Infinity, totalBytes: 0 }
    }
    this.last = { at: now, ...s }
    const below = this.minFreeBytes > 0 && s.freeBytes < this.minFreeBytes
    if (below !== this.below) {
      this.below = below
      const fields = { freeMb: Math.floor(s.freeBytes / MIB), minFreeMb: this.minFreeBytes / MIB, dir: this.init.dir }
      if (below) this.c.log.warn(fields, 'free disk space below min_free_mb: refusing new values')
      else this.c.log.info(fields, 'free disk space above min_free_mb again: taking new values')
    }
    return this.last
  }
}
