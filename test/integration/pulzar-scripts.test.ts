import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { noiseJpeg, scenePng } from '../helpers/images.js'
import { converged } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { REPO, cleanupPeers, killPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const SCRIPTS = join(REPO, 'test/fixtures/pulzar')
const KB = 1024
const hasPython = spawnSync('python3', ['--version']).status === 0

/** Runs one of the Python scripts in its own process group, killed when the test's deadline passes. */
async function python (script: string, args: string[], timeoutMs: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn('python3', [join(SCRIPTS, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const timer = setTimeout(() => { if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL') }, timeoutMs)
  try {
    const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
    return { code, stdout, stderr }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Pulzar's own client scripts (app/test_integration), run against one peer
 * the way their users run them: Python, the standard library standing in for
 * `requests` (test/fixtures/pulzar/pulzar_client.py). Issue 20.
 */
describe.skipIf(!hasPython)('Pulzar\'s client scripts against one peer (issue 20)', () => {
  let peer: Peer
  let dir: string
  beforeAll(async () => {
    peer = await startPeer()
    dir = tempDir('pmz-pulzar-')
  })
  afterAll(cleanupPeers)

  it('the image-matching script: image_url = base URL + data.url, unencoded, 20 of 20 ok at the crop\'s coordinates', async () => {
    const base = await scenePng(20, 900, 640)
    const crop = { left: 412, top: 233, width: 140, height: 96 }
    writeFileSync(join(dir, 'image_base.png'), base)
    writeFileSync(join(dir, 'spotify.png'), await sharp(base).extract(crop).png().toBuffer())
    const res = await python('image_matching.py', [`${peer.url}/`, join(dir, 'image_base.png'), join(dir, 'spotify.png'), '20'], 90_000)
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    const lines = res.stdout.trim().split('\n').map(l => JSON.parse(l) as { status?: number, answer?: any, delete?: number })
    const calls = lines.filter(l => l.answer !== undefined)
    expect(calls).toHaveLength(20)
    for (const call of calls) {
      expect(call.status, JSON.stringify(call.answer)).toBe(200)
      expect(call.answer).toMatchObject({
        status: 'ok',
        data: { found: true, percent_of_match: 0.8, coordinates: { x: crop.left, y: crop.top, w: crop.width, h: crop.height }, msg: null }
      })
    }
    expect(lines.at(-1)).toEqual({ delete: 200 })
  })

  it('the stress script\'s shape: 300 keys of 1 KB, 145 KB and 635 KB with ?temporal=1, 5 threads, write then read then delete, no request fails', async () => {
    const jpg = await noiseJpeg(7, 1024, 768)
    expect(jpg.length).toBeGreaterThan(550 * KB)
    expect(jpg.length).toBeLessThan(750 * KB)
    const rows = ['Rank,NOC,Gold,Silver,Bronze,Total']
    for (let i = 0; rows.join('\n').length < 145 * KB; i++) rows.push(`${i},Country ${i % 97},${i % 40},${i % 33},${i % 29},${(i % 40) + (i % 33) + (i % 29)}`)
    writeFileSync(join(dir, 'wallpaper.jpg'), jpg)
    writeFileSync(join(dir, 'downloaded_medals.csv'), rows.join('\n'))
    const started = Date.now()
    const res = await python('stress.py', [`${peer.url}/`, join(dir, 'wallpaper.jpg'), join(dir, 'downloaded_medals.csv'), '300', '5'], 60_000)
    const elapsedMs = Date.now() - started
    expect(res.stderr).toBe('')
    expect(res.code).toBe(0)
    const summary = JSON.parse(res.stdout) as Record<'write' | 'read' | 'delete', [number, unknown[]]> & { kinds: Record<string, number> }
    expect(summary.write).toEqual([300, []])
    expect(summary.read).toEqual([300, []])
    expect(summary.delete).toEqual([300, []])
    // All three sizes were in the mix.
    expect(Object.values(summary.kinds).every(n => n > 0)).toBe(true)
    expect(elapsedMs).toBeLessThan(60_000)
    expect((await http('GET', `${peer.url}/extension/search/test_data`)).json?.data).toEqual([])
  })

  it('the routes themselves stay anchored: get_key elsewhere in a path is no read, as it was on Pulzar', async () => {
    expect((await http('PUT', `${peer.url}/add_key/anchored/k.png`, 'k')).status).toBe(201)
    for (const path of [`/${peer.url}/get_key/anchored/k.png`, '/x/get_key/anchored/k.png', '//get_key/anchored/k.png']) {
      const res = await http('GET', `${peer.url}${path}`)
      expect(res.status, path).toBe(404)
      expect(res.json).toEqual({ data: null, status: 'ko', msg: 'Wrong query, route not found' })
    }
  })

  it('search as Pulzar\'s clients call it: blank fields of a form are absent, the README\'s lt=A>=B is a range', async () => {
    for (const k of ['a', 'b']) expect((await http('PUT', `${peer.url}/add_key/forms/${k}.txt`, k)).status).toBe(201)
    const d = new Date()
    const today = `${d.getMonth() + 1}-${d.getDate()}-${d.getFullYear()}`
    const keys = async (query: string): Promise<unknown> => {
      const res = await http('GET', `${peer.url}/extension/search/forms${query}`)
      expect(res.status, res.body.toString()).toBe(200)
      return (res.json?.data as Array<{ key: string }>).map(h => h.key)
    }
    expect(await keys('?eq=&lt=&gt=&limit=')).toEqual(['/forms/a.txt', '/forms/b.txt'])
    expect(await keys('?limit=&limit=1')).toEqual(['/forms/a.txt'])
    expect(await keys(`?lt=${today}>=${today}`)).toEqual(['/forms/a.txt', '/forms/b.txt'])
    expect(await keys(`?lt=${today}>=1-1-2000&limit=1`)).toEqual(['/forms/a.txt'])
    expect(await keys('?lt=1-1-2001>=1-1-2000')).toEqual([])
  })
})

describe('imagematching in a cluster of two (issue 20)', () => {
  afterAll(cleanupPeers)

  it('reads a get_key URL of another peer\'s gateway through the store: it answers with that gateway killed', async () => {
    const cluster = `pulzar-${Date.now().toString(36)}`
    const a = await startPeer({ cluster })
    const b = await startPeer({ cluster, args: ['--join', a.mesh] })
    await converged([a, b], [a.id, b.id], 20_000)
    const scene = await scenePng(21, 640, 480)
    // Through b: the answer's data.url names b's gateway; with two peers both hold the key.
    const put = await http('PUT', `${b.url}/add_key/two/scene.png`, scene)
    expect(put.status).toBe(201)
    expect(put.json?.data.url).toBe(`${b.url}/get_key/two/scene.png`)
    await killPeer(b)
    const crop = await sharp(scene).extract({ left: 101, top: 57, width: 80, height: 64 }).png().toBuffer()
    for (const imageUrl of [put.json?.data.url as string, `${a.url}/${put.json?.data.url as string}`]) {
      const res = await http('PUT', `${a.url}/extension/imagematching?image_url=${imageUrl}`, crop)
      expect(res.status, res.body.toString()).toBe(200)
      expect(res.json?.data).toMatchObject({ found: true, coordinates: { x: 101, y: 57, w: 80, h: 64 } })
    }
  })
})
