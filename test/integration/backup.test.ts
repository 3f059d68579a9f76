// Backup and restore (issue 18) between two real 3-peer clusters: pmz backup
// and pmz restore (CLI), GET /admin/backup and POST /admin/restore, a
// backup under writes, a refused corrupt archive, a Pulzar directory import.
// Needs `npm run build` (bin/pmz runs dist/).
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readArchive, type ArchiveMeta, type Manifest } from '../../src/backup/index.js'
import { converged, pool } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, catalogued } from '../helpers/jobs.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'
import { asKey } from '../../src/store/index.js'

const MB = 1024 * 1024
const SEED = 'bk/noop'
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

interface KeyRow { key: string, size: number, sha256: string, created: string, expires: string | null }

/** Every key of the cluster as admin/keys lists it (paged), under `prefix`. */
async function keysOf (peer: Peer, prefix = ''): Promise<KeyRow[]> {
  const rows: KeyRow[] = []
  for (let after: string | undefined; ;) {
    const q = new URLSearchParams({ limit: '1000', ...(prefix !== '' ? { prefix } : {}), ...(after !== undefined ? { after } : {}) })
    const page = (await http('GET', `${peer.url}/admin/keys?${q.toString()}`)).json?.data as KeyRow[]
    rows.push(...page)
    if (page.length < 1000) return rows
    after = page[page.length - 1].key
  }
}

/** An archive's manifest and key entries (each checked against its sha256). */
async function entriesOf (archive: Buffer): Promise<{ manifest: Manifest, metas: ArchiveMeta[] }> {
  const metas: ArchiveMeta[] = []
  const { manifest } = await readArchive([archive], {
    async entry (meta, body) {
      const h = createHash('sha256')
      for await (const piece of body) h.update(piece)
      expect(h.digest('hex'), meta.key).toBe(meta.sha256)
      metas.push(meta)
    }
  })
  return { manifest, metas }
}

const cli = async (peer: Peer, ...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => {
  const r = await runCli([...args, '--gateway', peer.url])
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr }
}

describe('backup and restore between two 3-peer clusters (issue 18)', () => {
  const args = ['--replicas', '3', '--write-quorum', '2', '--maxsize', '64']
  let src: Peer[]
  let dst: Peer[]
  const values = new Map<string, Buffer>()
  const dir = tempDir('pmz-backup-files-')

  async function cluster (name: string, seeds: string): Promise<Peer[]> {
    const flags = [...args, '--seeds', seeds]
    // What is checked here is the archive, not the disk's durability: no fsync per write (sync = os) keeps the 300 MB of replica writes quick.
    const env = { PMZ_STORE_SYNC: 'os' }
    const first = await startPeer({ cluster: name, args: flags, env })
    const rest = await Promise.all([1, 2].map(async () => await startPeer({ cluster: name, args: [...flags, '--join', first.mesh], env })))
    const peers = [first, ...rest]
    await converged(peers, peers.map(p => p.id), 20_000)
    return peers
  }

  beforeAll(async () => {
    const seeds = tempDir('pmz-backup-seeds-')
    mkdirSync(join(seeds, 'bk'))
    writeFileSync(join(seeds, `${SEED}.mjs`), 'export default () => "ok"\n')
    const tag = randomBytes(3).toString('hex');
    [src, dst] = await Promise.all([cluster(`bk-src-${tag}`, seeds), cluster(`bk-dst-${tag}`, seeds)])
  })
  afterAll(async () => { await cleanupPeers() })

  it('1,000 keys (two of 50 MB, some expiring), settings and schedules restore into a fresh cluster byte-identical, with their metadata', async () => {
    for (let i = 0; i < 998; i++) values.set(`a/k${String(i).padStart(4, '0')}`, randomBytes(100 + (i * 37) % 4000))
    values.set('z/big-1.bin', randomBytes(50 * MB))
    values.set('z/big-2.bin', randomBytes(50 * MB))
    const keys = [...values.keys()]
    const total = [...values.values()].reduce((a, b) => a + b.length, 0)
    const via = (peers: Peer[], k: string): Peer => peers[k.length % 3]
    await pool(keys, 16, async k => {
      const temporal = k.startsWith('a/') && Number(k.slice(3)) % 50 === 0 ? `?temporal=${1 + Number(k.slice(3)) % 7}` : ''
      const res = await http('PUT', `${via(src, k).url}/add_key/${k}${temporal}`, values.get(k))
      expect(res.status, `${k}: ${res.body.toString()}`).toBe(201)
    })
    expect((await http('PUT', `${src[0].url}/admin/config/limits`, '{"max": 3, "names": ["x"]}', JSON_HEADERS)).status).toBe(200)
    await catalogued(src[0], SEED)
    for (const scheduled of [{ every: '1 day' }, { interval: 'hours', time_unit: 2, repeat: 1 }, { cron: '0 9 * * 1', tz: 'Europe/Madrid', overlap: 'queue' }]) {
      const res = await http('POST', `${src[1].url}/launch_job/${SEED}`, JSON.stringify({ n: 1, scheduled }), JSON_HEADERS)
      expect(res.status, JSON.stringify(res.json)).toBe(200)
    }

    const archive = join(dir, 'all.tar')
    const made = await cli(src[1], 'backup', '--out', archive)
    expect(made, made.stderr).toMatchObject({ code: 0, stdout: `backed up 1000 keys (${(total / MB).toFixed(1)} MB), 1 settings and 3 schedules to ${archive}\n` })
    const part = await http('GET', `${src[2].url}/admin/backup?prefix=a/`)
    expect(part.status).toBe(200)
    expect(part.headers).toMatchObject({ 'content-type': 'application/x-tar', 'x-pmz-backup-keys': '998' })

    // A corrupted copy (one byte of a value near its end flipped) is refused and writes nothing.
    const bad = Buffer.from(part.body)
    bad[bad.indexOf(values.get('a/k0990') as Buffer) + 50] ^= 0xff
    const refused = await http('POST', `${dst[0].url}/admin/restore`, bad)
    expect(refused.status).toBe(400)
    expect(refused.json?.msg).toMatch(/^bad archive: keys\/a\/k099\d: the bytes do not match their sha256; nothing was written$/)
    expect(await keysOf(dst[0])).toEqual([])
    expect((await http('GET', `${dst[0].url}/admin/config`)).json?.data).toEqual({})

    await catalogued(dst[2], SEED)
    const restored = await cli(dst[2], 'restore', archive, '--json')
    expect(restored.code, restored.stderr).toBe(0)
    expect(JSON.parse(restored.stdout)).toMatchObject({ keys: 1000, restored: 1000, existing: 0, settings: { restored: 1 }, schedules: { restored: 3 } })

    // Same keys, sizes, sha256 (of the bytes each replica stored), upload times and expiries;
    // the same bytes through any peer (the large values and every tenth small one read back).
    const [before, after] = [await keysOf(src[0]), await keysOf(dst[1])]
    expect(after).toEqual(before)
    expect(before.filter(r => r.expires !== null)).toHaveLength(20)
    await pool(keys.filter((k, i) => i % 10 === 0 || k.startsWith('z/')), 8, async k => {
      const res = await http('GET', `${via(dst, k).url}/get_key/${k}`)
      expect(res.status).toBe(200)
      expect(res.body.equals(values.get(k) as Buffer), k).toBe(true)
    })
    // Backed up again, the restored cluster gives the same entries (content type included) and tables.
    const again = await http('GET', `${dst[0].url}/admin/backup?prefix=a/`)
    const [one, two] = [await entriesOf(part.body), await entriesOf(again.body)]
    const strip = (m: ArchiveMeta): Omit<ArchiveMeta, 'version'> => ({ key: m.key, size: m.size, sha256: m.sha256, created: m.created, expires: m.expires, contentType: m.contentType })
    expect(two.metas.map(strip)).toEqual(one.metas.map(strip))
    expect(two.manifest.settings).toEqual(one.manifest.settings)
    const noTime = (m: Manifest): unknown[] => m.schedules.map(s => ({ ...s, createdAt: undefined }))
    expect(noTime(two.manifest)).toEqual(noTime(one.manifest))
    expect(two.manifest).toMatchObject({ prefix: '/a/', source: { peer: dst[0].id } })

    // Idempotent: a second restore finds everything there; a deleted key stays deleted unless asked.
    expect((await http('DELETE', `${dst[0].url}/delete_key/a/k0003`)).status).toBe(200)
    const second = await http('POST', `${dst[1].url}/admin/restore`, again.body)
    expect(second.json?.data).toMatchObject({ keys: 998, restored: 0, existing: 997, deleted: 1, settings: { existing: 1 }, schedules: { existing: 3 } })
    expect((await http('GET', `${dst[1].url}/get_key/a/k0003`)).status).toBe(404)
    const third = await http('POST', `${dst[1].url}/admin/restore?resurrect=1`, again.body)
    expect(third.json?.data).toMatchObject({ restored: 1, deleted: 0 })
    expect((await http('GET', `${dst[2].url}/get_key/a/k0003`)).body.equals(values.get('a/k0003') as Buffer)).toBe(true)
  })

  it('a backup taken while writes continue holds each key whole or not at all', async () => {
    const versions = new Map<string, Set<string>>()
    const put = async (k: string, v: Buffer): Promise<void> => {
      if (!versions.has(k)) versions.set(k, new Set())
      versions.get(k)?.add(sha(v))
      const res = await http('PUT', `${src[0].url}/add_key/${k}`, v)
      expect(res.status).toBe(201)
    }
    const stable = Array.from({ length: 150 }, (_, i) => `w/s${i}`)
    const churned = Array.from({ length: 50 }, (_, i) => `w/c${i}`)
    await pool([...stable, ...churned], 16, async k => { await put(k, randomBytes(40_000)) })
    let writing = true
    /** Writes answered so far. */
    let done = 0
    // Each writer churns its own keys (every fourth): a delete and an add of one key never race another writer's.
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; writing; i++) {
        const k = churned[(i * 4 + w) % churned.length]
        await http('DELETE', `${src[1].url}/delete_key/${k}`)
        done++
        await put(k, randomBytes(40_000))
        done++
        await put(`w/n${w}-${i}`, randomBytes(1000))
        done++
      }
    })
    await waitFor(() => done > 24, 10_000, 'writes under way')
    const before = done
    const res = await http('GET', `${src[2].url}/admin/backup?prefix=w/`)
    const during = done - before
    writing = false
    await Promise.all(writers)
    // Four writers never paused while the backup ran: writes were answered during it, not only before.
    expect(during).toBeGreaterThan(0)
    expect(res.status).toBe(200)
    const { metas } = await entriesOf(res.body)
    const held = new Set(metas.map(m => m.key))
    // Every untouched key is there; every entry is one whole version that was written (its sha256 checked above).
    for (const k of stable) expect(held.has(asKey(`/${k}`)), k).toBe(true)
    for (const m of metas) expect(versions.get(m.key.slice(1))?.has(m.sha256), m.key).toBe(true)
  })

  it('imports a Pulzar volume directory, upload times from the files', async () => {
    const volume = tempDir('pmz-pulzar-volume-')
    const b64 = (k: string): string => Buffer.from(k).toString('base64')
    mkdirSync(join(volume, 'p/q'), { recursive: true })
    const files: Array<[string, string, string]> = [['/top.txt', b64('/top.txt'), 'top'], ['/p/q/deep.bin', `p/q/${b64('/p/q/deep.bin')}`, 'deep'], ['/p/x~~.txt', `p/${b64('/p/x~~.txt')}`, 'tilde']]
    const mtime = new Date('2021-03-04T05:06:07Z')
    for (const [, path, text] of files) {
      writeFileSync(join(volume, path), text)
      utimesSync(join(volume, path), mtime, mtime)
    }
    writeFileSync(join(volume, 'p/notes.md'), 'not a value')
    const r = await cli(dst[0], 'restore', '--pulzar-dir', volume)
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^restored 3 of 3 keys/)
    expect(r.stderr).toBe('pmz: skipped 1 files that hold no Pulzar value (named by no base64 key), e.g. p/notes.md\n')
    for (const [key, , text] of files) {
      expect((await http('GET', `${dst[1].url}/get_key${key}`)).body.toString()).toBe(text)
    }
    const rows = await keysOf(dst[2], '/p/')
    expect(rows.map(row => [row.key, row.created])).toEqual([['/p/q/deep.bin', mtime.toISOString()], ['/p/x~~.txt', mtime.toISOString()]])
  })

  it('bad input gets one line from the CLI and an envelope from the gateway', async () => {
    const p = dst[0]
    for (const [argv, msg] of [
      [['restore', join(dir, 'missing.tar')], /^pmz: cannot read .*missing\.tar: ENOENT\n$/],
      [['restore'], /^pmz: restore needs an archive FILE or --pulzar-dir DIR \(one of them\)\n$/],
      [['backup', '--out', join(dir, 'no/such/dir/x.tar')], /^pmz: cannot write .*x\.tar: ENOENT\n$/]
    ] as Array<[string[], RegExp]>) {
      const r = await cli(p, ...argv)
      expect(r.code, argv.join(' ')).toBe(1)
      expect(r.stderr).toMatch(msg)
    }
    const garbage = await http('POST', `${p.url}/admin/restore`, randomBytes(3000))
    expect(garbage.status).toBe(400)
    expect(garbage.json).toMatchObject({ status: 'ko', data: null })
    expect(garbage.json?.msg).toMatch(/^bad archive: .*nothing was written$/)
    expect((await http('POST', `${p.url}/admin/restore?overwrite=maybe`)).status).toBe(400)
    expect((await http('GET', `${p.url}/admin/backup?prefix=a&prefix=b`)).json).toMatchObject({ status: 'ko', msg: 'prefix must appear once' })
    expect((await http('DELETE', `${p.url}/admin/backup`)).status).toBe(405)
  })
})
