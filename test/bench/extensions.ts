import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import sharp from 'sharp'
import { createLogger } from '../../src/common/logger.js'
import { decodeGray } from '../../src/extensions/images.js'
import { matchTemplate } from '../../src/extensions/imagematching/match.js'
import { asKey, createStore } from '../../src/store/index.js'
import { http } from '../helpers/http.js'
import { cleanupPeers, startPeer, tempDir } from '../helpers/peer.js'
import { fmt } from './lib.js'

const OCR_IMAGES = 24
const MATCH_RUNS = 15
const SEARCH_KEYS = 100_000
const SYSTEM_PYTHON = '/usr/bin/python3'
const WORDS = ['invoice', 'number', 'total', 'amount', 'payment', 'customer', 'order', 'delivery', 'address', 'account', 'balance', 'receipt', 'service', 'product', 'quantity', 'price']

/**
 * Issue 6's benchmark: OCR throughput of the pool (through the gateway)
 * beside the Debian `tesseract` command on the same images; image matching
 * of a 200x200 template in a 1920x1080 base beside OpenCV's matchTemplate;
 * search over 100,000 keys. References are installed with apt-get when
 * missing, or skipped with the reason.
 */
export async function extensionsBench (): Promise<void> {
  const dir = tempDir('pmz-bench-ext-')
  const peer = await startPeer({ args: ['--seeds', join(dir, 'no-seeds')] })
  try {
    await ocrBench(peer.url, dir)
    await matchBench(peer.url, dir)
  } finally {
    await cleanupPeers()
  }
  await searchBench()
}

/** Makes sure a reference tool is there: installs its Debian package when `probe` fails. */
function ensure (what: string, probe: () => boolean, pkg: string): string | undefined {
  if (probe()) return undefined
  console.log(`installing ${pkg} (apt-get) for the ${what} reference...`)
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { encoding: 'utf8', timeout: 600_000 })
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8', timeout: 300_000 })
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { encoding: 'utf8', timeout: 600_000 })
  }
  if (r.status === 0 && probe()) return undefined
  return `apt-get install ${pkg} failed: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop() ?? 'unknown error'}`
}

async function textImage (i: number): Promise<{ png: Buffer, words: string[] }> {
  const words = Array.from({ length: 12 }, (_, k) => WORDS[(i * 7 + k * 3) % WORDS.length])
  const lines = [words.slice(0, 6).join(' '), words.slice(6).join(' ') + ` ${1000 + i}`]
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1400" height="260"><rect width="100%" height="100%" fill="white"/>` +
    lines.map((l, k) => `<text x="40" y="${100 + k * 90}" font-family="DejaVu Sans" font-size="52" fill="black">${l}</text>`).join('') + '</svg>'
  return { png: await sharp(Buffer.from(svg)).png().toBuffer(), words }
}

/** Runs `jobs` with at most `concurrency` at once; resolves with the elapsed seconds. */
async function timed (count: number, concurrency: number, job: (i: number) => Promise<void>): Promise<number> {
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await job(next++)
  }))
  return (performance.now() - started) / 1000
}

async function run (command: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  return await new Promise((resolve, reject) => {
    const p = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (c: Buffer) => { out += c.toString() })
    p.stderr.on('data', (c: Buffer) => { err += c.toString() })
    p.once('error', reject)
    p.once('exit', code => code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}: ${err}`)))
  })
}

async function ocrBench (base: string, dir: string): Promise<void> {
  const cores = availableParallelism()
  console.log(`\n== extensions: OCR, ${OCR_IMAGES} rendered 1400x260 images (2 lines of text), ${cores} at a time ==`)
  const images = await Promise.all(Array.from({ length: OCR_IMAGES }, async (_, i) => await textImage(i)))
  const correct = (text: string, words: string[]): boolean => words.every(w => text.toLowerCase().includes(w))
  // Warm-up: the first request starts the worker pool.
  const warm = await http('PUT', `${base}/extension/ocr/warmup.png`, images[0].png)
  if (warm.status !== 200) throw new Error(`ocr answered ${warm.status}: ${warm.body.toString()}`)
  let pmzCorrect = 0
  const pmzSeconds = await timed(OCR_IMAGES, cores, async i => {
    const res = await http('PUT', `${base}/extension/ocr/img${i}.png`, images[i].png)
    if (res.status !== 200) throw new Error(`ocr answered ${res.status}`)
    if (correct(res.json?.data.text as string, images[i].words)) pmzCorrect++
  })
  const rows: Array<Record<string, string>> = [{
    engine: `pmz ocr (tesseract.js pool of ${cores}, via HTTP)`, 'images/s': fmt(OCR_IMAGES / pmzSeconds, 2), 'all words read': `${pmzCorrect}/${OCR_IMAGES}`, ratio: '-'
  }]
  const skip = ensure('OCR', () => spawnSync('tesseract', ['--version']).status === 0, 'tesseract-ocr')
  if (skip === undefined) {
    images.forEach((img, i) => writeFileSync(join(dir, `ocr${i}.png`), img.png))
    let cliCorrect = 0
    // One process per image, as a script would call it; one OpenMP thread each so `cores` processes share the cores fairly.
    const cliSeconds = await timed(OCR_IMAGES, cores, async i => {
      const text = await run('tesseract', [join(dir, `ocr${i}.png`), '-', '-l', 'eng'], { OMP_THREAD_LIMIT: '1' })
      if (correct(text, images[i].words)) cliCorrect++
    })
    const version = spawnSync('tesseract', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]
    rows.push({ engine: `${version} command, ${cores} processes`, 'images/s': fmt(OCR_IMAGES / cliSeconds, 2), 'all words read': `${cliCorrect}/${OCR_IMAGES}`, ratio: '1.00' })
    rows[0].ratio = fmt(cliSeconds / pmzSeconds, 2)
  } else {
    console.log(`tesseract command reference skipped: ${skip}`)
  }
  console.table(rows)
  console.log('ratio = pmz images/s / command images/s; target >= 0.50')
}

const OPENCV_SCRIPT = `
import cv2, json, sys, time
base_bytes = open(sys.argv[1], 'rb').read(); tpl_bytes = open(sys.argv[2], 'rb').read()
import numpy as np
runs = int(sys.argv[3]); dec = []; mat = []; res = None
for i in range(runs + 2):
    t0 = time.perf_counter()
    b = cv2.imdecode(np.frombuffer(base_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    t = cv2.imdecode(np.frombuffer(tpl_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    t1 = time.perf_counter()
    r = cv2.matchTemplate(b, t, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(r)
    t2 = time.perf_counter()
    if i >= 2: dec.append((t1 - t0) * 1000); mat.append((t2 - t1) * 1000)
    res = {'x': loc[0], 'y': loc[1], 'score': score}
dec.sort(); mat.sort()
print(json.dumps({'decode_ms': dec[len(dec)//2], 'match_ms': mat[len(mat)//2], 'threads': cv2.getNumThreads(), 'version': cv2.__version__, **res}))
`

async function scene (width: number, height: number): Promise<Buffer> {
  let s = 7
  const rnd = (): number => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 }
  const colour = (): string => `rgb(${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)})`
  let shapes = ''
  for (let i = 0; i < 200; i++) {
    const x = Math.floor(rnd() * width); const y = Math.floor(rnd() * height); const r = 8 + Math.floor(rnd() * 80)
    shapes += i % 3 === 0 ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${colour()}"/>`
      : i % 3 === 1 ? `<rect x="${x}" y="${y}" width="${2 * r}" height="${r}" fill="${colour()}"/>`
        : `<text x="${x}" y="${y}" font-size="${r}" font-family="DejaVu Sans" fill="${colour()}">pmz ${i}</text>`
  }
  return await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#eeeeee"/>${shapes}</svg>`)).png().toBuffer()
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function matchBench (base: string, dir: string): Promise<void> {
  console.log(`\n== extensions: image matching, 200x200 template in a 1920x1080 base, median of ${MATCH_RUNS} ==`)
  const basePng = await scene(1920, 1080)
  const [x, y] = [1337, 611]
  const tplPng = await sharp(basePng).extract({ left: x, top: y, width: 200, height: 200 }).png().toBuffer()
  writeFileSync(join(dir, 'base.png'), basePng)
  writeFileSync(join(dir, 'tpl.png'), tplPng)
  if ((await http('PUT', `${base}/add_key/bench/base.png`, basePng)).status !== 201) throw new Error('storing the base image failed')

  const decode: number[] = []
  const match: number[] = []
  for (let i = 0; i < MATCH_RUNS + 2; i++) {
    const t0 = performance.now()
    const [b, t] = await Promise.all([decodeGray(basePng, 'base'), decodeGray(tplPng, 'template')])
    const t1 = performance.now()
    const found = matchTemplate(b, t, { goal: 0.999 })
    const t2 = performance.now()
    if (found.x !== x || found.y !== y) throw new Error(`matchTemplate found ${found.x},${found.y}`)
    if (i >= 2) { decode.push(t1 - t0); match.push(t2 - t1) }
  }
  const request: number[] = []
  for (let i = 0; i < MATCH_RUNS + 2; i++) {
    const t0 = performance.now()
    const res = await http('PUT', `${base}/extension/imagematching?image_url=/bench/base.png`, tplPng)
    if (res.json?.data?.coordinates?.x !== x) throw new Error(`imagematching answered ${res.body.toString()}`)
    if (i >= 2) request.push(performance.now() - t0)
  }
  const rows: Array<Record<string, string>> = [
    { engine: 'pmz in-process (sharp decode + coarse-to-fine NCC)', 'decode ms': fmt(median(decode), 1), 'match ms': fmt(median(match), 1), 'total ms': fmt(median(decode) + median(match), 1) },
    { engine: 'pmz PUT /extension/imagematching (base read from the store)', 'decode ms': '', 'match ms': '', 'total ms': fmt(median(request), 1) }
  ]
  const probe = (): boolean => spawnSync(SYSTEM_PYTHON, ['-c', 'import cv2']).status === 0
  const skip = ensure('image matching', probe, 'python3-opencv')
  if (skip === undefined) {
    writeFileSync(join(dir, 'match.py'), OPENCV_SCRIPT)
    const out = JSON.parse(await run(SYSTEM_PYTHON, [join(dir, 'match.py'), join(dir, 'base.png'), join(dir, 'tpl.png'), String(MATCH_RUNS)])) as
      { decode_ms: number, match_ms: number, threads: number, version: string, x: number, y: number }
    if (out.x !== x || out.y !== y) throw new Error(`OpenCV found ${out.x},${out.y}`)
    rows.push({ engine: `OpenCV ${out.version} matchTemplate TM_CCOEFF_NORMED (${out.threads} threads)`, 'decode ms': fmt(out.decode_ms, 1), 'match ms': fmt(out.match_ms, 1), 'total ms': fmt(out.decode_ms + out.match_ms, 1) })
    console.table(rows)
    console.log(`ratios (pmz / OpenCV time): match ${fmt(median(match) / out.match_ms, 2)}, decode + match ${fmt((median(decode) + median(match)) / (out.decode_ms + out.match_ms), 2)}, ` +
      `HTTP request ${fmt(median(request) / (out.decode_ms + out.match_ms), 2)}; target <= 2.00`)
  } else {
    console.table(rows)
    console.log(`OpenCV reference skipped: ${skip}`)
  }
}

async function searchBench (): Promise<void> {
  console.log(`\n== extensions: search over ${SEARCH_KEYS.toLocaleString('en')} keys (index built at start from the store's listing) ==`)
  const dataDir = tempDir('pmz-bench-search-')
  const store = createStore({ clock: { now: Date.now, monotonic: () => performance.now(), setTimeout: () => ({ cancel () {} }), setInterval: () => ({ cancel () {} }) }, log: createLogger({ level: 'silent' }) },
    { dir: join(dataDir, 'store'), peerId: 'bench', sync: 'os' })
  await store.start()
  for (let i = 0; i < SEARCH_KEYS; i++) await store.put(asKey(`/data/${String(i % 1000).padStart(3, '0')}/file${i}.bin`), Readable.from([Buffer.from('x')]))
  await store.stop()
  const peer = await startPeer({ dataDir })
  try {
    const built = peer.lines.map(parseLine).find(l => l?.msg === 'search index built')
    const rows: Array<Record<string, string>> = []
    for (const [what, q] of [['1 hit', 'file4711.bin'], ['100 hits', '/042/'], ['limit 100 of all', 'data?limit=100'], ['dated (gt), limit 100', '?gt=2000-01-01&limit=100'], ['no hit', 'nothing-like-this']] as const) {
      const times: number[] = []
      let hits = 0
      for (let i = 0; i < 12; i++) {
        const t0 = performance.now()
        const res = await http('GET', `${peer.url}/extension/search/${q}`)
        times.push(performance.now() - t0)
        hits = (res.json?.data as unknown[]).length
      }
      rows.push({ query: what, hits: String(hits), 'median ms (HTTP round trip)': fmt(median(times.slice(2)), 2) })
    }
    console.log(`index of ${built?.keys ?? '?'} keys built in ${built?.ms ?? '?'} ms at start`)
    console.table(rows)
  } finally {
    await cleanupPeers()
  }
}

function parseLine (line: string): { msg?: string, ms?: number, keys?: number } | undefined {
  try {
    return JSON.parse(line) as { msg?: string, ms?: number, keys?: number }
  } catch {
    return undefined
  }
}
