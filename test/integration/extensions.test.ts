import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/common/logger.js'
import { asKey, createStore } from '../../src/store/index.js'
import { http, waitFor } from '../helpers/http.js'
import { scenePng } from '../helpers/images.js'
import { ManualClock } from '../helpers/manual-clock.js'
import { REPO, cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const FIXTURES = join(REPO, 'test/fixtures/seeds')
/** Upload days of the 2,000 keys written before the peer starts (local time, noon). */
const DAYS = [[2021, 3, 1], [2021, 3, 15], [2021, 6, 30], [2022, 1, 10]] as const
const GROUPS = ['red', 'green', 'blue', 'gold']

interface Archived { key: string, day: number }

const mmddyyyy = (d: Date): string => `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}-${d.getFullYear()}`

/**
 * Writes 2,000 keys into the data dir the peer will open, through the store
 * itself with a manual clock: the way a peer restarted on an older data dir
 * sees keys uploaded on other days. The search dates are the upload dates.
 */
async function writeArchive (dataDir: string): Promise<Archived[]> {
  const clock = new ManualClock()
  const store = createStore({ clock, log: createLogger({ level: 'silent' }) }, { dir: join(dataDir, 'store'), peerId: 'writer', sync: 'os' })
  await store.start()
  const out: Archived[] = []
  for (let i = 0; i < 2000; i++) {
    const day = Math.floor(i / 500)
    const [y, m, d] = DAYS[day]
    clock.set(new Date(y, m - 1, d, 12).getTime())
    const key = `/archive/${GROUPS[i % 4]}/doc${i}.${i % 5 === 0 ? 'pdf' : 'txt'}`
    await store.put(asKey(key), Readable.from([Buffer.from(key)]))
    out.push({ key, day })
  }
  await store.stop()
  return out
}

async function textPng (text: string, negative = false): Promise<Buffer> {
  const [bg, fg] = negative ? ['black', 'white'] : ['white', 'black']
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="900" height="140"><rect width="100%" height="100%" fill="${bg}"/>` +
    `<text x="30" y="90" font-family="DejaVu Sans" font-size="48" fill="${fg}">${text}</text></svg>`
  return await sharp(Buffer.from(svg)).png().toBuffer()
}

describe('extensions of one peer (pulzar-api.md §5)', () => {
  let peer: Peer
  let base: string
  let seedsDir: string
  let archive: Archived[]

  beforeAll(async () => {
    const dataDir = tempDir()
    seedsDir = tempDir('pmz-seeds-')
    archive = await writeArchive(dataDir)
    peer = await startPeer({ dataDir, args: ['--seeds', seedsDir], env: { PMZ_MAXSIZE: '1' } })
    base = peer.url
  })
  afterAll(cleanupPeers)

  describe('routing and the envelope', () => {
    it('answers an unknown extension 404 ko and a wrong method 405 ko', async () => {
      const unknown = await http('GET', `${base}/extension/nope/a`)
      expect(unknown.status).toBe(404)
      expect(unknown.json).toEqual({ data: null, status: 'ko', msg: 'Wrong query, extension not found' })
      expect((await http('GET', `${base}/extension`)).status).toBe(404)
      const del = await http('DELETE', `${base}/extension/search/x`)
      expect(del.status).toBe(405)
      expect(del.json?.status).toBe('ko')
      expect(del.headers.allow).toContain('PUT')
      const options = await http('OPTIONS', `${base}/extension/search/x`)
      expect(options.json).toEqual({ data: null, status: 'ok', msg: 'options' })
    })
  })

  describe('search', () => {
    const search = async (query: string): Promise<string[]> => {
      const res = await http('GET', `${base}/extension/search/${query}`)
      expect(res.status, `${query}: ${res.body.toString()}`).toBe(200)
      expect(res.json?.status).toBe('ok')
      expect(res.json?.msg).toBe('')
      return (res.json?.data as Array<{ key: string, url: string }>).map(h => {
        expect(h.url).toBe(`${base}/get_key${h.key}`)
        return h.key
      })
    }
    const expected = (keep: (a: Archived) => boolean, limit = Infinity): string[] => archive.filter(keep).map(a => a.key).sort().slice(0, limit)

    it('finds keys by substring, in key order, with a limit', async () => {
      expect(await search('archive')).toEqual(expected(() => true))
      expect(await search('gold/doc1')).toEqual(expected(a => a.key.includes('gold/doc1')))
      expect(await search('archive/blue/doc10.pdf')).toEqual(['/archive/blue/doc10.pdf'])
      expect(await search('blue?limit=7')).toEqual(expected(a => a.key.includes('blue'), 7))
      expect(await search('no-such-thing')).toEqual([])
    })

    it('filters 2,000 keys by upload day: eq, lt, gt and ranges, in both date formats', async () => {
      expect(await search('archive?eq=03-15-2021')).toEqual(expected(a => a.day === 1))
      expect(await search('archive?eq=2021-03-15')).toEqual(expected(a => a.day === 1))
      expect(await search('archive?eq=3-16-2021')).toEqual([])
      expect(await search('.pdf?lt=03-15-2021')).toEqual(expected(a => a.day <= 1 && a.key.endsWith('.pdf')))
      expect(await search('blue?gt=03-15-2021')).toEqual(expected(a => a.day >= 1 && a.key.includes('blue')))
      expect(await search('archive?gt=03-02-2021&lt=2021-06-30')).toEqual(expected(a => a.day === 1 || a.day === 2))
      expect(await search('archive?eq=01-10-2022&lt=01-01-2000')).toEqual(expected(a => a.day === 3)) // eq wins
      expect(await search('green?gt=06-30-2021&limit=3')).toEqual(expected(a => a.day >= 2 && a.key.includes('green'), 3))
    })

    it('sees keys stored and deleted through the gateway at once, under today\'s date', async () => {
      expect((await http('PUT', `${base}/add_key/today/one.txt`, '1')).status).toBe(201)
      expect((await http('PUT', `${base}/add_key/today/two.txt`, '2')).status).toBe(201)
      const listed = await http('GET', `${base}/admin/keys?prefix=/today/one`)
      const today = new Date(listed.json!.data[0].created as string)
      const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1)
      expect(await search(`today?eq=${mmddyyyy(today)}`)).toEqual(['/today/one.txt', '/today/two.txt'])
      expect(await search(`?eq=${mmddyyyy(today)}`)).toEqual(['/today/one.txt', '/today/two.txt'])
      expect(await search(`today?lt=${mmddyyyy(yesterday)}`)).toEqual([])
      expect(await search(`?gt=${mmddyyyy(today)}&lt=${mmddyyyy(today)}`)).toEqual(['/today/one.txt', '/today/two.txt'])
      expect((await http('DELETE', `${base}/delete_key/today/one.txt`)).status).toBe(200)
      expect(await search('today')).toEqual(['/today/two.txt'])
    })

    it('answers a malformed date or limit with 400 ko', async () => {
      for (const q of ['x?eq=2021-13-01', 'x?lt=yesterday', 'x?gt=31-12-2021', 'x?limit=-3']) {
        const res = await http('GET', `${base}/extension/search/${q}`)
        expect(res.status, q).toBe(400)
        expect(res.json?.status).toBe('ko')
        expect(res.json?.msg).not.toBe('')
      }
    })
  })

  describe('ocr', () => {
    it('reads rendered text; search says whether a word is there', async () => {
      const png = await textPng('Hello pmz world 2024')
      const res = await http('PUT', `${base}/extension/ocr/hello.png?search=PMZ`, png)
      expect(res.status, res.body.toString()).toBe(200)
      expect(res.json?.status).toBe('ok')
      expect(res.json?.data.text).toMatch(/Hello\s+pmz\s+world/)
      expect(res.json?.data.contains).toBe(true)
      const absent = await http('PUT', `${base}/extension/ocr/hello.png?search=invoice`, png)
      expect(absent.json?.data.contains).toBe(false)
      const plain = await http('PUT', `${base}/extension/ocr/hello.png`, png)
      expect(Object.keys(plain.json?.data as object)).toEqual(['text'])
    })

    it('inverts light text on a dark ground with invert=1', async () => {
      const res = await http('PUT', `${base}/extension/ocr/dark.png?invert=1&search=invoice`, await textPng('Invoice number 4711', true))
      expect(res.status).toBe(200)
      expect(res.json?.data.text).toMatch(/Invoice number 4711/)
      expect(res.json?.data.contains).toBe(true)
      expect((await http('PUT', `${base}/extension/ocr/dark.png?invert=yes`, await textPng('x', true))).status).toBe(400)
    })

    it('serves two requests at once from the worker pool', async () => {
      const [a, b] = await Promise.all([
        http('PUT', `${base}/extension/ocr/a.png`, await textPng('Quick brown fox')),
        http('PUT', `${base}/extension/ocr/b.png`, await textPng('Lazy sleeping dog'))
      ])
      expect(a.status).toBe(200)
      expect(b.status).toBe(200)
      expect(a.json?.data.text).toMatch(/Quick brown fox/)
      expect(b.json?.data.text).toMatch(/Lazy sleeping dog/)
    })

    it('answers a body that is not an image, no body or no name with 400 ko', async () => {
      const garbage = await http('PUT', `${base}/extension/ocr/x.png`, 'this is not an image')
      expect(garbage.status).toBe(400)
      expect(garbage.json).toEqual({ data: null, status: 'ko', msg: 'the body is not an image' })
      expect((await http('GET', `${base}/extension/ocr/x.png`)).json).toEqual({ data: null, status: 'ko', msg: 'file path empty' })
      expect((await http('PUT', `${base}/extension/ocr`, await textPng('x'))).json?.msg).toBe('no args detected')
    })
  })

  describe('imagematching', () => {
    let scene: Buffer
    beforeAll(async () => {
      scene = await scenePng(11, 800, 600)
      expect((await http('PUT', `${base}/add_key/images/scene.png`, scene)).status).toBe(201)
    })

    it('finds a crop at its exact coordinates, through a key or a get_key URL', async () => {
      const crop = await sharp(scene).extract({ left: 333, top: 217, width: 120, height: 90 }).png().toBuffer()
      const res = await http('PUT', `${base}/extension/imagematching?image_url=/images/scene.png`, crop)
      expect(res.status, res.body.toString()).toBe(200)
      expect(res.json?.data).toMatchObject({ found: true, percent_of_match: 0.8, coordinates: { x: 333, y: 217, w: 120, h: 90 }, msg: null })
      expect(res.json?.data.score).toBeGreaterThan(0.99)
      const url = encodeURIComponent(`${base}/get_key/images/scene.png`)
      const viaUrl = await http('PUT', `${base}/extension/imagematching?image_url=${url}&percent=95`, crop)
      expect(viaUrl.json?.data).toMatchObject({ found: true, percent_of_match: 0.95, coordinates: { x: 333, y: 217, w: 120, h: 90 } })
    })

    it('does not find an unrelated image at percent=90', async () => {
      const other = await sharp(await scenePng(99, 400, 400)).extract({ left: 100, top: 100, width: 120, height: 90 }).png().toBuffer()
      const res = await http('PUT', `${base}/extension/imagematching?image_url=/images/scene.png&percent=90`, other)
      expect(res.status).toBe(200)
      expect(res.json?.data).toMatchObject({ found: false, percent_of_match: 0.9, coordinates: {}, msg: 'percent criteria does not match' })
      expect(res.json?.data.score).toBeLessThan(0.9)
    })

    it('answers bad input with a ko envelope: larger template, no image_url, unknown key, not an image', async () => {
      const larger = await http('PUT', `${base}/extension/imagematching?image_url=/images/scene.png`, await scenePng(3, 801, 300))
      expect(larger.status).toBe(400)
      expect(larger.json).toEqual({ data: null, status: 'ko', msg: 'the template is larger than the base image' })
      const noUrl = await http('PUT', `${base}/extension/imagematching`, scene)
      expect(noUrl.json).toEqual({ data: null, status: 'ko', msg: 'you must provide an url for the base image' })
      expect(noUrl.status).toBe(400)
      const missing = await http('PUT', `${base}/extension/imagematching?image_url=/images/none.png`, scene)
      expect(missing.status).toBe(404)
      expect(missing.json?.msg).toBe('Imagematching::Could not download the image, verify the source URL')
      const garbage = await http('PUT', `${base}/extension/imagematching?image_url=/images/scene.png`, 'not an image')
      expect(garbage.status).toBe(400)
      expect(garbage.json?.status).toBe('ko')
    })
  })

  describe('extensions exported by seeds', () => {
    const answer = async (path: string, method = 'GET', body?: string | Buffer): Promise<{ status: number, json: any }> => {
      const res = await http(method, `${base}/extension/${path}`, body)
      return { status: res.status, json: res.json }
    }
    const until = async (path: string, status: number): Promise<void> => {
      await waitFor(async () => (await answer(path)).status === status, 5000, `/extension/${path} to answer ${status}`)
    }

    it('serves a seed dropped into the seeds directory, reloads it when changed, withdraws it when removed', async () => {
      expect((await answer('ext-echo')).status).toBe(404)
      copyFileSync(join(FIXTURES, 'ext-echo.mjs'), join(seedsDir, 'ext-echo.mjs'))
      await until('ext-echo/a', 200)
      expect((await answer('ext-echo/a/b.c-d?x=1&x=2&y=')).json).toEqual({
        data: { args: ['a', 'b.c-d'], params: { x: ['1', '2'], y: [''] }, bodyBytes: null, method: 'GET' }, status: 'ok', msg: ''
      })
      expect((await answer('ext-echo', 'PUT', Buffer.alloc(1000, 1))).json.data).toMatchObject({ bodyBytes: 1000, method: 'PUT' })

      writeFileSync(join(seedsDir, 'ext-echo.mjs'), 'export const extension = () => ({ version: 2 })\n')
      await waitFor(async () => (await answer('ext-echo')).json?.data?.version === 2, 5000, 'the changed seed to be reloaded')

      rmSync(join(seedsDir, 'ext-echo.mjs'))
      await until('ext-echo', 404)
    })

    it('names a seed by its path: seeds/demo/hello.mjs is /extension/demo/hello', async () => {
      mkdirSync(join(seedsDir, 'demo'), { recursive: true })
      copyFileSync(join(FIXTURES, 'ext-echo.mjs'), join(seedsDir, 'demo/hello.mjs'))
      await until('demo/hello', 200)
      expect((await answer('demo/hello/x')).json.data.args).toEqual(['x'])
      expect((await answer('demo')).status).toBe(404)
    })

    it('serves the built-in example of Pulzar\'s README: curl -X GET -L .../extension/example/arg1/arg2', async () => {
      expect((await answer('example/arg1/arg2?p=1&p=2&q=')).json).toEqual({
        data: { my_arg: ['arg1', 'arg2'], my_params: { p: ['1', '2'], q: [''] } }, status: 'ok', msg: ''
      })
      expect((await answer('example')).json.data).toEqual({ my_arg: [], my_params: {} })
    })

    it('answers 500 ko with the message of a throwing extension and keeps serving', async () => {
      copyFileSync(join(FIXTURES, 'ext-throws.mjs'), join(seedsDir, 'ext-throws.mjs'))
      copyFileSync(join(FIXTURES, 'ext-bad-input.mjs'), join(seedsDir, 'ext-bad-input.mjs'))
      await until('ext-throws', 500)
      const res = await answer('ext-throws')
      expect(res.json).toEqual({ data: null, status: 'ko', msg: 'boom: this extension always fails' })
      await until('ext-bad-input', 422)
      expect((await answer('ext-bad-input')).json).toEqual({ data: null, status: 'ko', msg: 'give me an argument' })
      expect((await answer('ext-bad-input/z')).json.data).toEqual({ got: 'z' })
      expect((await http('GET', `${base}/admin/status`)).status).toBe(200)
      expect((await answer('search/archive/blue/doc10.pdf')).json.data).toHaveLength(1)
    })

    it('gives an extension the store, and refuses a body over maxsize with 413', async () => {
      copyFileSync(join(FIXTURES, 'ext-store.mjs'), join(seedsDir, 'ext-store.mjs'))
      copyFileSync(join(FIXTURES, 'job-only.mjs'), join(seedsDir, 'job-only.mjs'))
      await until('ext-store/archive/red/doc0.pdf', 200)
      expect((await answer('ext-store/archive/red/doc0.pdf')).json.data).toMatchObject({ found: true, size: '/archive/red/doc0.pdf'.length })
      expect((await answer('ext-store/none')).json.data).toEqual({ found: false })
      expect((await answer('job-only')).status).toBe(404)
      // maxsize is 1 MiB here: refused on the declared length before reading, or while reading a chunked body.
      const declared = await http('PUT', `${base}/extension/ext-store/x`, 'tiny', { 'content-length': String(1024 * 1024 + 1) })
      expect(declared.status).toBe(413)
      expect(declared.json).toEqual({ data: null, status: 'ko', msg: 'max size allowed is 1MB' })
      const chunked = await http('PUT', `${base}/extension/ext-store/x`, Readable.from([Buffer.alloc(1024 * 1024), Buffer.alloc(10)]))
      expect(chunked.status).toBe(413)
    })
  })
})
