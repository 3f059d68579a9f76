import { createReadStream, statSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import type { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ArchiveReader, pulzarDirArchive, pulzarFiles, skipEntries, type PulzarScan, type RestoreReport } from '../../backup/index.js'
import { CliError, GatewayClient, readEnvelope } from '../client.js'
import { progressStream } from '../progress.js'
import type { ClientFlags } from './storage.js'

const mb = (n: number): string => `${(n / 1048576).toFixed(1)} MB`

/** The stream through a progress bar of `total` bytes; a failure of `source` fails it. */
function counted (source: Readable, total: number, label: string, force: boolean | undefined): Transform {
  const bar = progressStream(total, label, force)
  pipeline(source, bar).catch(err => { bar.destroy(err as Error) })
  return bar
}

/**
 * `pmz backup --out FILE [--prefix P]`: the gateway's archive to FILE
 * (through FILE.pmz-part, renamed once whole). Its structure is checked as
 * it arrives, so a backup cut short (a peer lost midway) fails here rather
 * than later at restore.
 */
export async function backup (flags: ClientFlags & { out: string, prefix?: string, json?: boolean }): Promise<void> {
  const client = new GatewayClient(flags.gateway, flags.token)
  const query = flags.prefix !== undefined && flags.prefix !== '' ? `?${new URLSearchParams({ prefix: flags.prefix }).toString()}` : ''
  const res = await client.send('GET', `/admin/backup${query}`, { untimed: true })
  if (res.statusCode !== 200) {
    await readEnvelope(res)
    throw new CliError(`unexpected HTTP ${res.statusCode}`)
  }
  // The values' bytes plus each entry's headers (about three tar blocks).
  const total = Number(res.headers['x-pmz-backup-bytes'] ?? 0) + Number(res.headers['x-pmz-backup-keys'] ?? 0) * 1536
  const tmp = `${flags.out}.pmz-part`
  const file = await open(tmp, 'w').catch(err => { throw new CliError(`cannot write ${flags.out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`) })
  const reader = new ArchiveReader(skipEntries)
  try {
    try {
      for await (const chunk of counted(res.body, total, 'backup', flags.progress)) {
        await Promise.all([file.write(chunk as Buffer), reader.write(chunk as Buffer)])
      }
    } catch (err) {
      reader.abort(err as Error)
      throw err
    } finally {
      await file.close()
    }
    const { manifest, trailer } = await reader.end()
    await rename(tmp, flags.out)
    if (flags.json === true) {
      process.stdout.write(`${JSON.stringify({ file: flags.out, keys: trailer.keys, bytes: trailer.bytes, settings: Object.keys(manifest.settings).length, schedules: manifest.schedules.length })}\n`)
    } else {
      process.stdout.write(`backed up ${trailer.keys} keys (${mb(trailer.bytes)}), ${Object.keys(manifest.settings).length} settings and ${manifest.schedules.length} schedules to ${flags.out}\n`)
    }
  } catch (err) {
    await rm(tmp, { force: true })
    const msg = (err as Error).message
    throw new CliError(`backup failed: ${/terminated|other side closed|socket/i.test(msg) || /trailer\.json/.test(msg) ? 'the gateway cut the archive short (its log says why)' : msg}`)
  }
}

/**
 * `pmz restore FILE | --pulzar-dir DIR [--overwrite] [--resurrect]`: sends
 * the archive (or the archive of a Pulzar volume directory, made on the fly)
 * to the gateway, which verifies all of it before it writes anything.
 */
export async function restore (file: string | undefined, flags: ClientFlags & { pulzarDir?: string, overwrite?: boolean, resurrect?: boolean, json?: boolean }): Promise<void> {
  if ((file === undefined) === (flags.pulzarDir === undefined)) throw new CliError('restore needs an archive FILE or --pulzar-dir DIR (one of them)')
  let body: Readable
  let total: number
  let scanned: Promise<PulzarScan> | undefined
  const headers: Record<string, string> = { 'content-type': 'application/x-tar' }
  if (file !== undefined) {
    total = await sizeOf(file, 'file')
    headers['content-length'] = String(total)
    body = createReadStream(file)
  } else {
    const dir = flags.pulzarDir as string
    total = await sizeOf(dir, 'directory')
    const archive = pulzarDirArchive(dir)
    body = archive.stream
    scanned = archive.scanned
    scanned.catch(() => {})
  }
  const q = new URLSearchParams()
  if (flags.overwrite === true) q.set('overwrite', '1')
  if (flags.resurrect === true) q.set('resurrect', '1')
  const client = new GatewayClient(flags.gateway, flags.token)
  const upload = counted(body, total, 'restore', flags.progress)
  if (process.stderr.isTTY && flags.progress !== false) upload.once('end', () => { process.stderr.write('uploaded; the gateway verifies the archive, then writes it\n') })
  let env
  try {
    env = await readEnvelope<RestoreReport>(await client.send('POST', `/admin/restore${q.size > 0 ? `?${q.toString()}` : ''}`, { body: upload, headers, untimed: true }))
  } catch (err) {
    // The Pulzar directory could not be read: that, not the gateway, is the cause.
    await scanned?.catch(scanErr => { throw new CliError(`cannot read ${flags.pulzarDir ?? ''}: ${(scanErr as Error).message}`) })
    throw err
  }
  const r = env.data
  const scan = await scanned
  if (flags.json === true) {
    process.stdout.write(`${JSON.stringify(scan === undefined ? r : { ...r, skipped_files: scan.skipped })}\n`)
    return
  }
  process.stdout.write(`restored ${r.restored} of ${r.keys} keys (${mb(r.bytes)}); skipped ${r.existing} existing, ${r.deleted} deleted here, ${r.expired} expired\n`)
  process.stdout.write(`settings: ${r.settings.restored} restored, ${r.settings.existing} existing; schedules: ${r.schedules.restored} restored, ${r.schedules.existing} existing, ${r.schedules.unknown_seed} with an unknown seed, ${r.schedules.invalid} invalid\n`)
  if (scan !== undefined && scan.skipped.length > 0) {
    process.stderr.write(`pmz: skipped ${scan.skipped.length} files that hold no Pulzar value (named by no base64 key), e.g. ${scan.skipped.slice(0, 3).join(', ')}\n`)
  }
}

/** A file's size, or (for a directory) the bytes of the regular files under it; CliError when it is missing or of the other kind. */
async function sizeOf (path: string, kind: 'file' | 'directory'): Promise<number> {
  try {
    const st = statSync(path)
    if (kind === 'file' ? !st.isFile() : !st.isDirectory()) throw new CliError(`${path} is not a ${kind}`)
    if (kind === 'file') return st.size
    let bytes = 0
    for await (const f of pulzarFiles(path)) bytes += f.size
    return bytes
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}
