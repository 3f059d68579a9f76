// The archive of `pmz backup` (docs/backup.md): a POSIX (pax) tar whose first
// entry is manifest.json (the coordinator's tables), then one `keys/<key>`
// entry per key with its metadata in pax records, then trailer.json (counts
// and a digest over every entry), so that a cut, a lost or an extra entry is
// seen. Pure: names, headers, and the checks of what a reader finds.
import { createHash, type Hash } from 'node:crypto'
import type { Header } from 'tar-stream'
import { PmzError } from '../common/errors.js'
import { validateKey } from '../store/index.js'
import type { ArchiveMeta, BackupTables, Manifest, ScheduleRecord, Trailer } from './types.js'

export const FORMAT = 'pmz-backup'
export const FORMAT_VERSION = 1
export const MANIFEST_NAME = 'manifest.json'
export const TRAILER_NAME = 'trailer.json'
/** A key's entry is this plus the key without its leading `/`. */
export const KEYS_DIR = 'keys'

/**
 * Metadata of a key's entry, as pax records under the namespace GNU tar and
 * bsdtar know as extended attributes (`SCHILY.xattr.`): they list the archive
 * without a warning, and `tar --xattrs -x` puts them on the extracted files.
 */
const PAX = 'SCHILY.xattr.user.pmz.'
const SHA256 = /^[0-9a-f]{64}$/
const SETTING_NAME = /^[\w.:-]{1,200}$/

/** What a reader refuses: 400, naming the entry. */
export function badArchive (reason: string, entry?: string): PmzError {
  return new PmzError('ERR_BAD_REQUEST', `bad archive: ${entry !== undefined ? `${entry}: ` : ''}${reason}`, { details: { entry, reason } })
}

export function entryName (key: string): string {
  return `${KEYS_DIR}${key}`
}

/** The tar header of a key's entry: its size, upload time as mtime, and the rest in pax records. */
export function entryHeader (meta: ArchiveMeta): Partial<Header> & { name: string, pax: Record<string, string> } {
  const pax: Record<string, string> = {
    [`${PAX}sha256`]: meta.sha256,
    [`${PAX}created`]: String(meta.created),
    [`${PAX}expires`]: meta.expires === null ? '' : String(meta.expires),
    [`${PAX}type`]: meta.contentType
  }
  if (meta.version !== undefined) pax[`${PAX}version`] = meta.version
  return { name: entryName(meta.key), size: meta.size, mode: 0o644, mtime: new Date(meta.created), type: 'file', pax }
}

/** A key entry's metadata, checked; throws badArchive. */
export function readEntryMeta (header: Pick<Header, 'name' | 'size' | 'type' | 'pax'>): ArchiveMeta {
  const name = header.name
  if (!name.startsWith(`${KEYS_DIR}/`)) throw badArchive('not a key entry (keys/...), manifest.json or trailer.json', name)
  if (header.type !== 'file') throw badArchive('a key entry must be a regular file', name)
  const key = name.slice(KEYS_DIR.length)
  try {
    validateKey(key)
  } catch (err) {
    throw badArchive((err as Error).message, name)
  }
  const pax = (header.pax ?? {}) as Record<string, string | undefined>
  const sha256 = pax[`${PAX}sha256`]
  if (sha256 === undefined || !SHA256.test(sha256)) throw badArchive('no sha256 record', name)
  const created = Number(pax[`${PAX}created`])
  const rawExpires = pax[`${PAX}expires`]
  const expires = rawExpires === undefined || rawExpires === '' ? null : Number(rawExpires)
  if (!Number.isSafeInteger(created) || (expires !== null && !Number.isSafeInteger(expires))) throw badArchive('upload time or expiry is not a time', name)
  const meta: ArchiveMeta = { key, size: header.size ?? 0, sha256, created, expires, contentType: pax[`${PAX}type`] ?? 'application/octet-stream' }
  const version = pax[`${PAX}version`]
  if (version !== undefined) meta.version = version
  return meta
}

/** The running digest of the trailer: every key entry's key and sha256, in archive order. */
export class EntryDigest {
  keys = 0
  bytes = 0
  private readonly hash: Hash = createHash('sha256')

  add (meta: ArchiveMeta): void {
    this.keys++
    this.bytes += meta.size
    this.hash.update(`${meta.key}\n${meta.sha256}\n`)
  }

  digest (): string { return this.hash.digest('hex') }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function parseJson (bytes: Buffer, name: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw badArchive(`not JSON: ${(err as Error).message}`, name)
  }
}

/** manifest.json, checked: its format and version, settings as JSON texts, schedules of the right shape. */
export function parseManifest (bytes: Buffer): Manifest {
  const m = parseJson(bytes, MANIFEST_NAME)
  if (!isObj(m) || m.format !== FORMAT) throw badArchive(`not a ${FORMAT} manifest`, MANIFEST_NAME)
  if (m.v !== FORMAT_VERSION) throw badArchive(`format version ${String(m.v)} is not ${FORMAT_VERSION}`, MANIFEST_NAME)
  if (typeof m.createdAt !== 'string' || !isObj(m.source)) throw badArchive('createdAt or source missing', MANIFEST_NAME)
  if (m.prefix !== null && typeof m.prefix !== 'string') throw badArchive('prefix must be a string or null', MANIFEST_NAME)
  checkTables(m, MANIFEST_NAME)
  return m as unknown as Manifest
}

/** The coordinator's tables as JSON (POST /admin/restore/tables), checked as a manifest's are. */
export function parseTables (bytes: Buffer): BackupTables {
  const t = parseJson(bytes, 'tables')
  checkTables(t, 'tables')
  return { settings: t.settings, schedules: t.schedules }
}

function checkTables (m: unknown, where: string): asserts m is BackupTables {
  if (!isObj(m) || !isObj(m.settings) || !Array.isArray(m.schedules)) throw badArchive('settings or schedules missing', where)
  for (const [name, text] of Object.entries(m.settings)) {
    if (!SETTING_NAME.test(name) || typeof text !== 'string') throw badArchive(`setting ${name} is not a name with a JSON text`, where)
    parseJson(Buffer.from(text), `${where} setting ${name}`)
  }
  m.schedules.forEach((s, i) => { checkSchedule(s, `${where} schedule ${i}`) })
}

function checkSchedule (s: unknown, where: string): asserts s is ScheduleRecord {
  if (!isObj(s) || typeof s.seed !== 'string' || !isObj(s.args) || !isObj(s.scheduled)) throw badArchive('needs seed, args and scheduled', where)
  for (const f of ['priority', 'timeoutMs', 'retries', 'createdAt'] as const) {
    if (s[f] !== undefined && !Number.isSafeInteger(s[f])) throw badArchive(`${f} must be an integer`, where)
  }
  if (s.dataKey !== undefined && typeof s.dataKey !== 'string') throw badArchive('dataKey must be a key', where)
}

/** trailer.json, checked against what the reader counted. */
export function checkTrailer (bytes: Buffer, seen: EntryDigest): Trailer {
  const t = parseJson(bytes, TRAILER_NAME)
  if (!isObj(t) || typeof t.keys !== 'number' || typeof t.bytes !== 'number' || typeof t.digest !== 'string') throw badArchive('needs keys, bytes and digest', TRAILER_NAME)
  if (t.keys !== seen.keys || t.bytes !== seen.bytes) throw badArchive(`the archive holds ${seen.keys} keys (${seen.bytes} bytes), the trailer says ${t.keys} (${t.bytes})`, TRAILER_NAME)
  if (t.digest !== seen.digest()) throw badArchive('the digest of the entries does not match', TRAILER_NAME)
  return t as unknown as Trailer
}
