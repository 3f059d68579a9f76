import { readdir, stat } from 'node:fs/promises'
import { extname, join, relative, sep } from 'node:path'
import { MAX_DEPTH, MODULE_EXTENSIONS, PYTHON_EXTENSIONS, SKIPPED_DIRS } from './constants.js'
import type { SeedKind } from './types.js'

/** A seed file as a scan finds it, before it is read. */
export interface SeedFile {
  name: string
  path: string
  kind: SeedKind
  size: number
  mtimeMs: number
}

/** `example/factorial.mjs` -> `example/factorial`: the relative path without its extension, `/`-separated. */
export function seedNameOf (relativePath: string): string {
  const posix = relativePath.split(sep).join('/')
  const ext = extname(posix)
  return ext === '' ? posix : posix.slice(0, -ext.length)
}

/** What kind of seed a file is, or undefined when it is not a seed (data files, READMEs, editor leftovers). */
export function kindOf (path: string, mode: number): SeedKind | undefined {
  const ext = extname(path).toLowerCase()
  if ((MODULE_EXTENSIONS as readonly string[]).includes(ext)) return 'module'
  if ((PYTHON_EXTENSIONS as readonly string[]).includes(ext)) return 'python'
  return (mode & 0o111) !== 0 ? 'executable' : undefined
}

/** Lower wins when two files map to the same name (`hello.mjs` beside `hello.py`). */
function rank (path: string): number {
  const ext = extname(path).toLowerCase()
  const order = [...MODULE_EXTENSIONS, ...PYTHON_EXTENSIONS] as readonly string[]
  const i = order.indexOf(ext)
  return i === -1 ? order.length : i
}

export interface ScanResult {
  files: Map<string, SeedFile>
  /** Files that lost a name clash to another file. */
  shadowed: string[]
}

/**
 * Lists the seed files below `dir` (following symlinks, skipping hidden
 * entries and `node_modules`). A missing `dir` is an empty result.
 */
export async function scanSeeds (dir: string): Promise<ScanResult> {
  const files = new Map<string, SeedFile>()
  const shadowed: string[] = []
  const visit = async (current: string, depth: number): Promise<void> => {
    let names: string[]
    try {
      names = await readdir(current)
    } catch (err) {
      // A missing seeds directory is an empty catalog; a subdirectory may vanish while we scan.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
    for (const entry of names.sort()) {
      if (entry.startsWith('.')) continue
      const path = join(current, entry)
      const s = await stat(path).catch(() => undefined) // dangling symlink or removed meanwhile
      if (s === undefined) continue
      if (s.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry) && depth < MAX_DEPTH) await visit(path, depth + 1)
        continue
      }
      if (!s.isFile()) continue
      const kind = kindOf(path, s.mode)
      if (kind === undefined) continue
      const file: SeedFile = { name: seedNameOf(relative(dir, path)), path, kind, size: s.size, mtimeMs: s.mtimeMs }
      const other = files.get(file.name)
      if (other !== undefined && rank(other.path) <= rank(path)) {
        shadowed.push(path)
        continue
      }
      if (other !== undefined) shadowed.push(other.path)
      files.set(file.name, file)
    }
  }
  await visit(dir, 0)
  return { files, shadowed }
}
