import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

const PEER_ID_FILE = 'peer-id'

/**
 * The peer id: the configured one, else the one kept in the data dir, else a
 * new `hostname-xxxxxx` written there, so that a restarted peer keeps its id.
 */
export function resolvePeerId (configured: string, dataDir: string): string {
  if (configured !== '') return configured
  const file = join(dataDir, PEER_ID_FILE)
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim()
    if (kept !== '') return kept
  }
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 48) || 'peer'
  const id = `${host}-${randomBytes(3).toString('hex')}`
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(`${file}.tmp`, `${id}\n`)
  renameSync(`${file}.tmp`, file)
  return id
}
