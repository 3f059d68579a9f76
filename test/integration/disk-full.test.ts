import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, startPeer, type Peer } from '../helpers/peer.js'

const KIB = 1024
const MIB = 1024 * KIB
const TMPFS_MB = 8

/** A tmpfs small enough to fill, as the peers' data disk; undefined (and a printed reason) where none can be mounted. */
function mountTmpfs (): { dir: string, skip?: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pmz-diskfull-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m`, 'tmpfs', dir], { stdio: 'pipe' })
    return { dir }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    return { dir, skip: `cannot mount a tmpfs (${String((err as Error).message).split('\n')[0]}); the full-disk tests need root` }
  }
}

const disk = mountTmpfs()
if (disk.skip !== undefined) console.log(`skipping the full-disk tests: ${disk.skip}`)

function freeBytes (): number {
  const s = statfsSync(disk.dir)
  return s.bavail * s.bsize
}

/** Fills the tmpfs with a file of its own, leaving `leave` bytes free. */
function fillLeaving (leave: number): string {
  const path = join(disk.dir, `filler-${randomBytes(4).toString('hex')}`)
  writeFileSync(path, Buffer.alloc(Math.max(0, freeBytes() - leave)))
  return path
}

async function startOnTmpfs (minFreeMb: number): Promise<Peer> {
  const dataDir = join(disk.dir, `peer-${randomBytes(4).toString('hex')}`)
  mkdirSync(dataDir)
  return await startPeer({ dataDir, env: { PMZ_MIN_FREE_MB: String(minFreeMb) } })
}

/** PUTs values of `size` under `prefix` until one is refused; returns the keys stored and the refusal. */
async function fillWithPuts (peer: Peer, prefix: string, size: number, max: number): Promise<{ stored: Map<string, Buffer>, refusal: Awaited<ReturnType<typeof http>> }> {
  const stored = new Map<string, Buffer>()
  for (let i = 0; i < max; i++) {
    const key = `/${prefix}/${i}`
    const value = randomBytes(size)
    const res = await http('PUT', `${peer.url}/add_key${key}`, value)
    if (res.status !== 201) return { stored, refusal: res }
    stored.set(key, value)
  }
  throw new Error(`${max} PUTs of ${size} bytes all succeeded on a ${TMPFS_MB} MiB disk`)
}

describe.skipIf(disk.skip !== undefined)(`a full data disk (tmpfs of ${TMPFS_MB} MiB)`, () => {
  afterEach(async () => {
    await cleanupPeers()
    for (const name of ['peer-', 'filler-']) execFileSync('sh', ['-c', `rm -rf ${disk.dir}/${name}*`])
  })
  afterAll(() => {
    try {
      execFileSync('umount', [disk.dir], { stdio: 'pipe' })
    } catch (err) {
      console.log(`umount ${disk.dir} failed: ${(err as Error).message}`)
    }
    rmSync(disk.dir, { recursive: true, force: true })
  })

  for (const { name, size } of [{ name: 'small values (LMDB)', size: 100 * KIB }, { name: 'large values (blob files)', size: 300 * KIB }]) {
    it(`${name}: a write that cannot be stored answers 507, the peer lives on, serves reads and deletes, and writes again once there is room`, async () => {
      const peer = await startOnTmpfs(0)
      const filler = fillLeaving(2 * MIB)
      const { stored, refusal } = await fillWithPuts(peer, 'fill', size, 100)
      expect(refusal.status).toBe(507)
      expect(refusal.json).toEqual({ data: null, status: 'ko', msg: expect.stringMatching(/no space/) })
      expect(stored.size).toBeGreaterThan(0)

      // Still alive, and still serving what it has.
      expect(peer.proc.exitCode).toBeNull()
      for (const [key, value] of stored) {
        const got = await http('GET', `${peer.url}/get_key${key}`)
        expect(got.status, key).toBe(200)
        expect(got.body.equals(value), key).toBe(true)
      }
      const [first] = stored.keys()
      expect((await http('DELETE', `${peer.url}/delete_key${first}`)).status).toBe(200)
      expect((await http('GET', `${peer.url}/get_key${first}`)).status).toBe(404)
      expect((await http('GET', `${peer.url}/admin/status`)).status).toBe(200)

      // Room again: the same write goes through.
      rmSync(filler)
      const again = randomBytes(size)
      expect((await http('PUT', `${peer.url}/add_key/after/full`, again)).status).toBe(201)
      expect((await http('GET', `${peer.url}/get_key/after/full`)).body.equals(again)).toBe(true)
      expect(peer.proc.exitCode).toBeNull()
      expect(peer.lines.filter(l => l.includes('"level":50')), 'no error-level line').toEqual([])
    })
  }

  it('below min_free_mb a peer refuses new values with 507, says so once and in admin/status, and takes them again once there is room', async () => {
    const peer = await startOnTmpfs(3)
    const before = await http('GET', `${peer.url}/admin/status`)
    expect(before.json?.data.disk).toEqual({ free_mb: expect.any(Number), total_mb: TMPFS_MB, min_free_mb: 3, accepting_writes: true })
    const row = (await http('GET', `${peer.url}/admin/network`)).json?.data[0]
    expect(row).toMatchObject({ node: peer.id, free_mb: expect.any(Number), accepting_writes: true })

    expect((await http('PUT', `${peer.url}/add_key/kept`, 'kept')).status).toBe(201)
    const filler = fillLeaving(2 * MIB)
    // The floor is read at most once a second.
    let refused: Awaited<ReturnType<typeof http>> | undefined
    let attempt = 0
    await waitFor(async () => {
      refused = await http('PUT', `${peer.url}/add_key/early/${attempt++}`, 'x')
      return refused.status !== 201
    }, 5_000, 'a write to be refused below the floor')
    expect(refused?.status).toBe(507)
    expect(refused?.json).toEqual({ data: null, status: 'ko', msg: expect.stringMatching(/min_free_mb/) })
    for (let i = 0; i < 3; i++) expect((await http('PUT', `${peer.url}/add_key/refused${i}`, 'x')).status).toBe(507)
    expect(peer.lines.filter(l => l.includes('below min_free_mb'))).toHaveLength(1)
    expect(JSON.parse(peer.lines.find(l => l.includes('below min_free_mb')) as string).level).toBe(40)
    const status = await http('GET', `${peer.url}/admin/status`)
    expect(status.json?.data.disk).toMatchObject({ min_free_mb: 3, accepting_writes: false })
    expect(status.json?.data.disk.free_mb).toBeLessThan(3)

    // Reads and deletes go on.
    expect((await http('GET', `${peer.url}/get_key/kept`)).body.toString()).toBe('kept')
    expect((await http('DELETE', `${peer.url}/delete_key/kept`)).status).toBe(200)

    rmSync(filler)
    await waitFor(async () => (await http('PUT', `${peer.url}/add_key/again/${attempt++}`, 'again')).status === 201, 5_000, 'writes to be taken again')
    expect((await http('GET', `${peer.url}/admin/status`)).json?.data.disk.accepting_writes).toBe(true)
    expect(peer.proc.exitCode).toBeNull()
  })
})
