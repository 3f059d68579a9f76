import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createLogger } from '../../../src/common/logger.js'
import { createBackupStream, readArchive, restoreArchive, skipEntries, verifyEntries, pulzarKeyOf, type BackupTables, type RestoreTarget } from '../../../src/backup/index.js'
import { asKey, createLocalStore, type ReplicaStore } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'
import { codeOf } from '../../helpers/errors.js'

const log = createLogger({ level: 'silent' })
const DAY = 86_400_000

async function collect (s: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of s) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

async function * chunks (b: Buffer, size = 7919): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size)
}

describe('backup archive', () => {
  const stores: ReplicaStore[] = []
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function store (clock: ManualClock): Promise<ReplicaStore> {
    const s = createLocalStore({ clock, log }, { dir: tempDir('pmz-backup-store-'), peerId: 'p1', chunkBytes: 64 * 1024, tombstoneGraceMs: 7 * DAY })
    await s.start()
    stores.push(s)
    return s
  }

  const tables: BackupTables = { settings: { limit: '{"a":1}' }, schedules: [{ seed: 'sf/tick', args: { n: 1 }, scheduled: { every: '5 minutes' } }] }

  /** A store with a small, a large (streamed) and an expiring value; its archive. */
  async function backedUp (clock: ManualClock): Promise<{ archive: Buffer, values: Map<string, Buffer> }> {
    const s = await store(clock)
    const values = new Map<string, Buffer>([['/a/small.txt', Buffer.from('hello')], ['/a/big.bin', randomBytes(300_000)], ['/b/t.bin', randomBytes(1000)], ['/b/empty', Buffer.alloc(0)]])
    for (const [k, v] of values) await s.put(asKey(k), chunks(v), { temporalDays: k === '/b/t.bin' ? 3 : undefined, contentType: k.endsWith('.txt') ? 'text/plain' : undefined })
    clock.advance(1000)
    const archive = await collect(createBackupStream({ store: s, tables: async () => tables }, { clock, log }, { peer: 'p1', version: 'test' }))
    return { archive, values }
  }

  it('round-trips keys with their bytes, upload time, expiry and content type, and the tables', async () => {
    const clock = new ManualClock()
    const { archive, values } = await backedUp(clock)
    const { manifest, trailer } = await readArchive(chunks(archive), verifyEntries)
    expect(manifest).toMatchObject({ format: 'pmz-backup', v: 1, ...tables, prefix: null })
    expect(trailer).toMatchObject({ keys: 4, bytes: [...values.values()].reduce((a, b) => a + b.length, 0) })

    const target = await store(clock)
    const applied: BackupTables[] = []
    const into: RestoreTarget = { store: target, applyTables: async t => { applied.push(t); return { settings: { restored: 1, existing: 0 }, schedules: { restored: 1, existing: 0, unknown_seed: 0, invalid: 0 } } } }
    clock.advance(DAY)
    const report = await restoreArchive(chunks(archive), into, { clock, log }, { spoolDir: tempDir('pmz-spool-') })
    expect(report).toMatchObject({ keys: 4, restored: 4, existing: 0, deleted: 0, expired: 0 })
    expect(applied[0]).toMatchObject(tables)
    for (const [k, v] of values) {
      const got = await target.get(asKey(k))
      const bytes = Buffer.isBuffer(got.body) ? got.body : await collect(got.body)
      expect(bytes.equals(v)).toBe(true)
      expect(got.meta.created).toBe(Date.UTC(2026, 0, 1))
      expect(got.meta.expires).toBe(k === '/b/t.bin' ? Date.UTC(2026, 0, 1) + 3 * DAY : null)
      expect(got.meta.contentType).toBe(k.endsWith('.txt') ? 'text/plain' : 'application/octet-stream')
    }
    // Idempotent: again, everything is there already.
    const again = await restoreArchive(chunks(archive), into, { clock, log }, { spoolDir: tempDir('pmz-spool-') })
    expect(again).toMatchObject({ restored: 0, existing: 4 })
    // A deleted key stays deleted unless asked; an expired one is not written.
    await target.delete(asKey('/a/small.txt'))
    clock.advance(3 * DAY)
    expect(await restoreArchive(chunks(archive), into, { clock, log }, { spoolDir: tempDir('pmz-spool-') })).toMatchObject({ restored: 0, existing: 2, deleted: 1, expired: 1 })
    expect(await restoreArchive(chunks(archive), into, { clock, log }, { spoolDir: tempDir('pmz-spool-'), resurrect: true })).toMatchObject({ restored: 1, deleted: 0 })
  })

  it('stops cleanly when the reader goes away in the middle of a value (a client that closed the connection)', async () => {
    const clock = new ManualClock()
    const lines: Array<{ msg: string }> = []
    const logged = createLogger({ level: 'info', destination: { write: (line: string) => { lines.push(JSON.parse(line) as { msg: string }) } } })
    const s = await store(clock)
    await s.put(asKey('/a/big.bin'), chunks(randomBytes(4 * 1024 * 1024)), {})
    const stream = createBackupStream({ store: s, tables: async () => tables }, { clock, log: logged }, { peer: 'p1', version: 'test' })
    // Read 1 MB, then go away while the 4 MB entry is being written.
    let read = 0
    await new Promise<void>(resolve => stream.on('data', (c: Buffer) => { read += c.length; if (read > 1024 * 1024) resolve() }))
    stream.destroy()
    // The run ends with the entry it was writing (an unheard error event would instead end the process).
    await vi.waitFor(() => { expect(lines.map(l => l.msg)).toContain('backup stopped: its reader went away') }, { timeout: 5000 })
    expect(lines.map(l => l.msg)).not.toContain('backup done')
  })

  it('reads a key from this peer\'s copy when it holds the listed version, through the cluster otherwise', async () => {
    const clock = new ManualClock()
    const cluster = await store(clock)
    const mine = await store(clock)
    await cluster.put(asKey('/a/same'), chunks(Buffer.from('same')), {})
    await cluster.put(asKey('/a/stale'), chunks(Buffer.from('new')), {})
    clock.advance(1000)
    await mine.put(asKey('/a/stale'), chunks(Buffer.from('old')), {})
    const clusterReads: string[] = []
    const localReads: string[] = []
    const source = {
      store: { list: cluster.list.bind(cluster), get: async (k: string) => { clusterReads.push(k); return await cluster.get(asKey(k)) } },
      // This peer holds '/a/same' at the listed version and '/a/stale' at another one.
      local: { get: async (k: string) => { localReads.push(k); return k === '/a/same' ? await cluster.get(asKey(k)) : await mine.get(asKey(k)) } },
      tables: async () => tables
    }
    const archive = await collect(createBackupStream(source, { clock, log }, { peer: 'p1', version: 'test' }))
    const got = new Map<string, string>()
    await readArchive(chunks(archive), {
      async entry (meta, body) {
        const parts: Buffer[] = []
        for await (const piece of body) parts.push(Buffer.from(piece))
        got.set(meta.key, Buffer.concat(parts).toString())
      }
    })
    expect(got).toEqual(new Map([['/a/same', 'same'], ['/a/stale', 'new']]))
    expect(localReads.sort()).toEqual(['/a/same', '/a/stale'])
    expect(clusterReads).toEqual(['/a/stale'])
  })

  it('refuses a corrupted, cut or foreign archive before writing anything', async () => {
    const clock = new ManualClock()
    const { archive } = await backedUp(clock)
    const target = await store(clock)
    const into: RestoreTarget = { store: target, applyTables: async () => { throw new Error('tables applied') } }
    const flipped = Buffer.from(archive)
    const at = archive.indexOf(Buffer.from('hello'))
    flipped[at] ^= 1
    const cut = archive.subarray(0, archive.length - 3000)
    for (const bad of [flipped, cut, randomBytes(4096), archive.subarray(512)]) {
      expect(await codeOf(restoreArchive(chunks(bad), into, { clock, log }, { spoolDir: tempDir('pmz-spool-') }))).toBe('ERR_BAD_REQUEST')
      expect(await target.list()).toEqual([])
    }
    // The structure alone (what `pmz backup` checks as it saves) already finds a cut.
    expect(await codeOf(readArchive(chunks(cut), skipEntries))).toBe('ERR_BAD_REQUEST')
  })

  it('is a tar archive GNU tar lists without a warning', async () => {
    const clock = new ManualClock()
    const { archive } = await backedUp(clock)
    const file = join(tempDir('pmz-tar-'), 'b.tar')
    writeFileSync(file, archive)
    const listed = spawnSync('tar', ['-tf', file], { encoding: 'utf8' })
    if ((listed.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return
    expect(listed.stderr).toBe('')
    expect(listed.stdout.trim().split('\n')).toEqual(['manifest.json', 'keys/a/big.bin', 'keys/a/small.txt', 'keys/b/empty', 'keys/b/t.bin', 'trailer.json'])
    expect(execFileSync('tar', ['-xOf', file, 'keys/a/small.txt'], { encoding: 'utf8' })).toBe('hello')
  })

  it('reads the key of a Pulzar volume file', () => {
    const b64 = (k: string): string => Buffer.from(k).toString('base64')
    expect(pulzarKeyOf(b64('/c.txt'))).toBe('/c.txt')
    expect(pulzarKeyOf(`a/b/${b64('/a/b/c.txt')}`)).toBe('/a/b/c.txt')
    expect(b64('/d/a~~')).toContain('+')
    expect(pulzarKeyOf(`d/${b64('/d/a~~')}`)).toBe('/d/a~~')
    expect(pulzarKeyOf('a/b/not-base64!')).toBeUndefined()
    expect(pulzarKeyOf(`x/${b64('/a/c.txt')}`)).toBeUndefined()
  })
})
