import { pathToFileURL } from 'node:url'
import type { Clock, Timer } from '../common/clock.js'
import { LOAD_TIMEOUT_MS } from './constants.js'

/**
 * Imports a seed module. The content hash goes into the URL's query, so a
 * changed file is a new module for the ESM loader while an unchanged one is
 * imported once. Node cannot evict modules from its cache: every distinct
 * version of a seed stays in memory until the peer restarts. Modules a seed
 * imports itself are not reloaded with it.
 */
export async function importSeed (path: string, hash: string, clock: Clock, timeoutMs = LOAD_TIMEOUT_MS): Promise<Readonly<Record<string, unknown>>> {
  const url = `${pathToFileURL(path).href}?pmz-seed=${hash.slice(0, 16)}`
  let timer: Timer | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = clock.setTimeout(() => reject(new Error(`loading took longer than ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([import(url) as Promise<Record<string, unknown>>, deadline])
  } catch (err) {
    throw new Error(loadErrorMessage(err))
  } finally {
    timer?.cancel()
  }
}

/** A short, single-line reason for a failed import (no stack: it ends up in catalogs and answers). */
export function loadErrorMessage (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'ERR_UNKNOWN_FILE_EXTENSION') return 'TypeScript seeds need Node.js 22.6 or later; use a .mjs file'
  const text = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(err)
  return text.split('\n')[0].slice(0, 300)
}
