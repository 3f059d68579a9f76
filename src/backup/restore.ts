import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { PmzError, isPmzError } from '../common/errors.js'
import { ArchiveReader, readArchive, verifyEntries } from './archive-reader.js'
import { RESTORE_CONCURRENCY, SMALL_VALUE_BYTES } from './constants.js'
import type { ArchiveMeta, BackupComponents, RestoreReport, RestoreTarget } from './types.js'

export interface RestoreInit {
  /** Directory for the spooled archive (on the data disk: it holds the whole archive for a while). */
  spoolDir: string
  /** Replace keys that hold a live value (and settings that exist). @default false */
  overwrite?: boolean
  /** Restore keys this cluster deleted (that still have a tombstone). @default false */
  resurrect?: boolean
}

/**
 * Restores an archive, verify-then-write: the archive is spooled to a file
 * under `spoolDir` while every entry is checked (structure, sha256 of every
 * value, the trailer's counts and digest); only when all of it checked out
 * is the file read again and written to the store, then the tables. A bad
 * archive is refused (ERR_BAD_REQUEST) having written nothing.
 *
 * Idempotent: a key that holds a live value is skipped (unless `overwrite`:
 * then replaced, save when it already holds the very same value); a key
 * deleted here is skipped unless `resurrect`; an expired one is skipped.
 * Values keep their upload time, expiry and content type. A restore that
 * fails midway (a peer lost) can be run again to finish.
 */
export async function restoreArchive (body: AsyncIterable<Uint8Array>, target: RestoreTarget, c: BackupComponents, init: RestoreInit): Promise<RestoreReport> {
  await mkdir(init.spoolDir, { recursive: true })
  const spool = join(init.spoolDir, `restore-${randomUUID()}.tar`)
  const started = c.clock.monotonic()
  try {
    await spoolVerified(body, spool).catch(err => {
      if (isPmzError(err, 'ERR_BAD_REQUEST')) throw new PmzError('ERR_BAD_REQUEST', `${err.message}; nothing was written`, { details: err.details })
      throw err
    })
    c.log.info({ ms: Math.round(c.clock.monotonic() - started) }, 'restore: archive verified')
    const report = await writeArchive(spool, target, c, init)
    c.log.info({ ...report, ms: Math.round(c.clock.monotonic() - started) }, 'restore done')
    return report
  } finally {
    await rm(spool, { force: true }).catch(err => c.log.warn({ err, spool }, 'removing a spooled archive failed'))
  }
}

/** Removes what restores left in `spoolDir` (a peer killed during one); only while none runs. */
export async function clearSpool (spoolDir: string): Promise<void> {
  await rm(spoolDir, { recursive: true, force: true })
}

/** Pass 1: writes `body` to `file` and verifies every entry on the way. */
async function spoolVerified (body: AsyncIterable<Uint8Array>, file: string): Promise<void> {
  const fh = await open(file, 'wx')
  const reader = new ArchiveReader(verifyEntries)
  try {
    for await (const chunk of body) {
      // The file and the check proceed together; neither holds more than a chunk.
      await Promise.all([fh.write(chunk), reader.write(chunk)])
    }
  } catch (err) {
    reader.abort(err as Error)
    throw err
  } finally {
    await fh.close()
  }
  await reader.end()
}

/** Pass 2: the verified archive into the store (small values several at a time), then the tables. */
async function writeArchive (file: string, target: RestoreTarget, c: BackupComponents, init: RestoreInit): Promise<RestoreReport> {
  const report: RestoreReport = {
    keys: 0, restored: 0, bytes: 0, existing: 0, deleted: 0, expired: 0,
    settings: { restored: 0, existing: 0 }, schedules: { restored: 0, existing: 0, unknown_seed: 0, invalid: 0 }
  }
  const inFlight = new Set<Promise<void>>()
  let failure: unknown
  const overwrite = init.overwrite === true
  const waitBelow = async (n: number): Promise<void> => {
    while (inFlight.size > n) await Promise.race(inFlight)
    if (failure !== undefined) throw failure
  }

  /** Writes one value, or says why not. */
  const restoreOne = async (meta: ArchiveMeta, body: AsyncIterable<Uint8Array>): Promise<void> => {
    const skip = await skipReason(meta)
    if (skip !== undefined) {
      report[skip]++
      return
    }
    try {
      const stored = await target.store.put(meta.key, body, {
        ifAbsent: !overwrite, contentType: meta.contentType, sizeHint: meta.size, restored: { created: meta.created, expires: meta.expires }
      })
      if (stored.sha256 !== meta.sha256 || stored.size !== meta.size) {
        throw new PmzError('ERR_CORRUPT', `restoring ${meta.key} stored other bytes than the archive holds`, { details: { key: meta.key } })
      }
      report.restored++
      report.bytes += meta.size
    } catch (err) {
      // Written meanwhile by someone else: theirs stays.
      if (!isPmzError(err, 'ERR_CONFLICT')) throw err
      report.existing++
    }
  }

  const skipReason = async (meta: ArchiveMeta): Promise<'existing' | 'deleted' | 'expired' | undefined> => {
    const now = c.clock.now()
    if (meta.expires !== null && meta.expires <= now) return 'expired'
    // A store that keeps no tombstones in view (not distributed) tells only live values apart.
    const held = target.store.entry !== undefined ? await target.store.entry(meta.key) : await target.store.stat(meta.key)
    if (held === undefined) return undefined
    if ('deleted' in held && held.deleted) return init.resurrect === true ? undefined : 'deleted'
    if (held.expires !== null && held.expires <= now) return undefined
    const same = held.sha256 === meta.sha256 && held.created === meta.created && held.expires === meta.expires && held.contentType === meta.contentType
    return !overwrite || same ? 'existing' : undefined
  }

  const { manifest } = await readArchive(createReadStream(file), {
    async entry (meta, body, { dataOffset }) {
      report.keys++
      // A small value is taken whole; a large one is read again from its place in the file by its own
      // stream, so that several are written at once (each to N replicas) while the reader moves on.
      let value: AsyncIterable<Uint8Array>
      if (meta.size > SMALL_VALUE_BYTES) {
        for await (const piece of body) void piece
        value = fileRange(file, dataOffset, meta.size)
      } else {
        const parts: Uint8Array[] = []
        for await (const piece of body) parts.push(piece)
        value = once(Buffer.concat(parts))
      }
      await waitBelow(RESTORE_CONCURRENCY - 1)
      const p = restoreOne(meta, value)
        .catch(err => { failure ??= err })
        .finally(() => { inFlight.delete(p) })
      inFlight.add(p)
    },
    async flush () { await waitBelow(0) }
  }).catch(err => {
    const first = failure ?? err
    // Some keys are written: say so, and that running it again finishes the rest (it skips what is there).
    if (isPmzError(first)) {
      throw new PmzError(first.code, `${first.message} (after ${report.restored} keys were restored; restoring the archive again finishes the rest)`, { details: first.details, cause: first })
    }
    throw first
  })
  const tables = await target.applyTables(manifest, { overwrite })
  return { ...report, ...tables }
}

async function * once (bytes: Buffer): AsyncGenerator<Uint8Array> {
  yield bytes
}

/** `size` bytes of `file` from `start`, opened only when first read (a skipped value never opens it). */
async function * fileRange (file: string, start: number, size: number): AsyncGenerator<Uint8Array> {
  yield * createReadStream(file, { start, end: start + size - 1 })
}
