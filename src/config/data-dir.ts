import { closeSync, lstatSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs'
import { dirname } from 'node:path'
import { PmzError } from '../common/errors.js'

/** What to tell the operator after naming the problem. */
const HINT = 'choose another directory with --data DIR (or PMZ_DATA, [volume] dir)'

/**
 * Makes sure the data directory exists, is a directory and is writable,
 * before anything opens LMDB inside it: each problem becomes one
 * ERR_CONFIG_INVALID naming the path and what to do, instead of a stack from
 * deep inside the store (or, for a path under /proc, a recursive mkdir that
 * never returns: Node's `mkdirSync(..., { recursive: true })` loops there).
 */
export function prepareDataDir (dir: string): void {
  createLevels(dir)
  let isDir: boolean
  try {
    isDir = statSync(dir).isDirectory()
  } catch (err) {
    throw dataDirError(dir, 'cannot be read', err)
  }
  if (!isDir) throw new PmzError('ERR_CONFIG_INVALID', `data directory ${dir} is not a directory (a file is there); remove it or ${HINT}`, { details: { dir } })
  // Writable in practice (mode bits, read-only mounts, ACLs): create and remove a probe file.
  const probe = `${dir}/.pmz-probe-${process.pid}`
  try {
    closeSync(openSync(probe, 'w'))
    rmSync(probe, { force: true })
  } catch (err) {
    throw dataDirError(dir, 'is not writable', err)
  }
}

/** Creates the missing levels of `dir` one at a time, top down (no recursive mkdir: see above). */
function createLevels (dir: string): void {
  const missing: string[] = []
  for (let p = dir; ; p = dirname(p)) {
    try {
      lstatSync(p)
      break
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOTDIR') throw new PmzError('ERR_CONFIG_INVALID', `data directory ${dir}: a parent of it is a file, not a directory; ${HINT}`, { details: { dir } })
      if (code !== 'ENOENT') throw dataDirError(dir, 'cannot be read', err)
    }
    missing.push(p)
    if (dirname(p) === p) break
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue // created meanwhile; checked below
      throw dataDirError(dir, 'cannot be created', err)
    }
  }
}

function dataDirError (dir: string, what: string, err: unknown): PmzError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error'
  const why = code === 'EACCES' || code === 'EPERM'
    ? 'permission denied'
    : code === 'EROFS'
      ? 'read-only file system'
      : code === 'ENOENT'
        ? 'its parent does not accept new directories'
        : code
  const fix = why === 'permission denied' ? `fix its permissions or ${HINT}` : HINT
  return new PmzError('ERR_CONFIG_INVALID', `data directory ${dir} ${what} (${why}); ${fix}`, { details: { dir, code }, cause: err })
}
