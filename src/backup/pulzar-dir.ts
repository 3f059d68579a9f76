// Pulzar's backup is a copy of a volume's data directory (pulzar-api.md §3.1,
// §11): the value of key `/a/b/c.txt` is the file `a/b/<base64("/a/b/c.txt")>`.
// This turns such a directory into a pmz archive, streamed, for restore.
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { opendir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'
import type { Readable } from 'node:stream'
import { isKey, type Key } from '../store/index.js'
import { ArchivePacker } from './archive-packer.js'
import { FORMAT, FORMAT_VERSION } from './format.js'

/** One file of a Pulzar volume directory and the key it holds (undefined: not a Pulzar value). */
export interface PulzarFile { path: string, key: string | undefined, size: number, mtimeMs: number }

/**
 * The key a Pulzar value file holds, from its path relative to the volume
 * directory; undefined when it is none. The file name is the standard base64
 * of the whole key, which must lie in the directories before it. (Such a name
 * never holds a `/`: that takes a byte `?`, DEL or non-ASCII, and no key
 * holds one.)
 */
export function pulzarKeyOf (relPath: string): Key | undefined {
  const segments = relPath.split(sep).join('/').split('/')
  const name = segments[segments.length - 1]
  if (!/^[A-Za-z0-9+]+={0,2}$/.test(name)) return undefined
  const key = Buffer.from(name, 'base64').toString('utf8')
  if (Buffer.from(key, 'utf8').toString('base64') !== name) return undefined
  const where = segments.length === 1 ? '/' : `/${segments.slice(0, -1).join('/')}/`
  if (!key.startsWith(where) || key.slice(where.length).includes('/')) return undefined
  return isKey(key) ? key : undefined
}

/** Every regular file under `dir`, in name order, depth first (memory: one directory listing at a time). */
export async function * pulzarFiles (dir: string): AsyncGenerator<PulzarFile> {
  const names: Array<{ name: string, isDir: boolean, isFile: boolean }> = []
  for await (const d of await opendir(dir)) names.push({ name: d.name, isDir: d.isDirectory(), isFile: d.isFile() })
  names.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  for (const n of names) {
    const path = join(dir, n.name)
    if (n.isDir) yield * pulzarFiles(path)
    else if (n.isFile) {
      const st = await stat(path)
      yield { path, key: undefined, size: st.size, mtimeMs: st.mtimeMs }
    }
  }
}

/** What an import found: files taken and files that hold no Pulzar value (their paths, relative). */
export interface PulzarScan { keys: number, bytes: number, skipped: string[] }

/**
 * The archive of a Pulzar volume directory. A value's upload time is its
 * file's modification time (Pulzar's index, with the real one, lives on the
 * master); none has an expiry (Pulzar's `temporal` lives there too). Each
 * file is read twice: once for its sha256, once into the archive.
 */
export function pulzarDirArchive (root: string): { stream: Readable, scanned: Promise<PulzarScan> } {
  const packer = new ArchivePacker()
  const skipped: string[] = []
  const run = async (): Promise<PulzarScan> => {
    await packer.manifest({
      format: FORMAT, v: FORMAT_VERSION, createdAt: new Date().toISOString(), source: { pulzarDir: root }, prefix: null, settings: {}, schedules: []
    })
    for await (const f of pulzarFiles(root)) {
      const rel = relative(root, f.path)
      const key = pulzarKeyOf(rel)
      if (key === undefined) {
        skipped.push(rel)
        continue
      }
      const hash = createHash('sha256')
      for await (const piece of createReadStream(f.path)) hash.update(piece as Buffer)
      const created = Math.floor(f.mtimeMs)
      await packer.add({ key, size: f.size, sha256: hash.digest('hex'), created, expires: null, contentType: 'application/octet-stream' }, createReadStream(f.path))
    }
    await packer.finish(new Date().toISOString())
    return { keys: packer.keys, bytes: packer.bytes, skipped }
  }
  const scanned = run()
  scanned.catch(err => { packer.fail(err as Error) })
  return { stream: packer.stream, scanned }
}
