import type { Readable } from 'node:stream'
import { isPmzError } from '../common/errors.js'
import { compareHlc } from '../common/hlc.js'
import type { StoredValue, ValueMeta } from '../store/index.js'
import { ArchivePacker } from './archive-packer.js'
import { FORMAT, FORMAT_VERSION } from './format.js'
import { LIST_PAGE, PREFETCH_VALUES, SMALL_VALUE_BYTES } from './constants.js'
import type { ArchiveMeta, BackupComponents, BackupSource } from './types.js'

export interface BackupInit {
  /** Only keys starting with this (with its leading `/`). */
  prefix?: string
  /** The peer taking the backup and its pmz version (manifest.json `source`). */
  peer: string
  version: string
}

/** What a backup will hold, counted before it starts (a listing: keys may come and go meanwhile). */
export async function estimateBackup (source: BackupSource, prefix?: string): Promise<{ keys: number, bytes: number }> {
  let keys = 0
  let bytes = 0
  for await (const meta of listAll(source, prefix)) {
    keys++
    bytes += meta.size
  }
  return { keys, bytes }
}

/**
 * The backup archive of every live key (once, however many replicas hold it)
 * under `prefix`, with the coordinator's tables, as a stream: keys are listed
 * a page at a time and read one by one (a few small ones ahead), each
 * written whole with the metadata of the version read. A key deleted or
 * expired between the listing and its read is left out. A read that fails
 * midway fails the stream (the archive then has no trailer, which every
 * reader refuses); it never ends short looking whole.
 */
export function createBackupStream (source: BackupSource, c: BackupComponents, init: BackupInit): Readable {
  const packer = new ArchivePacker()
  const run = async (): Promise<void> => {
    const startedAt = c.clock.now()
    const tables = await source.tables()
    await packer.manifest({
      format: FORMAT, v: FORMAT_VERSION, createdAt: new Date(startedAt).toISOString(),
      source: { peer: init.peer, version: init.version }, prefix: init.prefix ?? null, ...tables
    })
    for await (const value of readAhead(source, init.prefix)) {
      await packer.add(archiveMeta(value.meta), value.body)
    }
    const trailer = await packer.finish(new Date(c.clock.now()).toISOString())
    c.log.info({ keys: trailer.keys, bytes: trailer.bytes, prefix: init.prefix, ms: c.clock.now() - startedAt }, 'backup done')
  }
  run().catch(err => {
    // A reader that went away (a client closed the connection) is not a failure of the peer.
    if (packer.stream.destroyed) c.log.info({ prefix: init.prefix }, 'backup stopped: its reader went away')
    else c.log.warn({ err, prefix: init.prefix }, 'backup failed')
    packer.fail(err as Error)
  })
  return packer.stream
}

function archiveMeta (m: ValueMeta): ArchiveMeta {
  return { key: m.key, size: m.size, sha256: m.sha256, created: m.created, expires: m.expires, contentType: m.contentType, version: m.version }
}

async function * listAll (source: BackupSource, prefix?: string): AsyncGenerator<ValueMeta> {
  let after: string | undefined
  for (;;) {
    const page = await source.store.list({ prefix, after, limit: LIST_PAGE })
    yield * page
    if (page.length < LIST_PAGE) return
    after = page[page.length - 1].key
  }
}

/**
 * The live values under `prefix` in key order. Values up to
 * SMALL_VALUE_BYTES are read up to PREFETCH_VALUES ahead (one round trip
 * each would otherwise bound the rate); a larger one is opened ahead only
 * when it is next, so at most two large values are open at a time.
 */
async function * readAhead (source: BackupSource, prefix?: string): AsyncGenerator<StoredValue> {
  const ahead: Array<{ meta: ValueMeta, value?: Promise<StoredValue | undefined> }> = []
  const read = async (meta: ValueMeta): Promise<StoredValue | undefined> => {
    const own = await localCopy(source, meta)
    if (own !== undefined) return own
    return await source.store.get(meta.key).catch(err => {
      if (isPmzError(err, 'ERR_NOT_FOUND')) return undefined
      throw err
    })
  }
  const start = (): void => {
    let inFlight = 0
    for (const a of ahead) {
      // One large value is opened ahead (its survey and open overlap the one being written), then reading ahead stops.
      const large = a.meta.size > SMALL_VALUE_BYTES
      if (large && inFlight > 0) break
      if (a.value === undefined) {
        a.value = read(a.meta)
        a.value.catch(() => {})
      }
      if (large || ++inFlight >= PREFETCH_VALUES) break
    }
  }
  const listing = listAll(source, prefix)
  let listed = false
  try {
    for (;;) {
      while (!listed && ahead.length < PREFETCH_VALUES) {
        const next = await listing.next()
        if (next.done === true) listed = true
        else ahead.push({ meta: next.value })
      }
      const head = ahead.shift()
      if (head === undefined) return
      start()
      const value = await (head.value ?? read(head.meta))
      if (value !== undefined) yield value
    }
  } finally {
    // Stopped early: a value read ahead as a stream holds an open file or a mesh stream.
    for (const a of ahead) {
      a.value?.then(v => { if (v !== undefined && !(v.body instanceof Uint8Array)) v.body.destroy() }, () => {})
    }
  }
}

/** This peer's copy of a listed value when it is that very version (else undefined: read it through the cluster). */
async function localCopy (source: BackupSource, meta: ValueMeta): Promise<StoredValue | undefined> {
  if (source.local === undefined) return undefined
  const own = await source.local.get(meta.key).catch(() => undefined)
  if (own === undefined) return undefined
  if (compareHlc(own.meta.version, meta.version) === 0) return own
  if (!(own.body instanceof Uint8Array)) own.body.destroy()
  return undefined
}
