import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import type { GrayImage } from '../../../src/extensions/images.js'
import { decodeGray } from '../../../src/extensions/images.js'
import { matchTemplate } from '../../../src/extensions/imagematching/match.js'
import { isFlat, nccAt, nccMap, prepareTemplate, refine, topPeaks } from '../../../src/extensions/imagematching/ncc.js'
import { coarsestLevel, downsample, pyramid } from '../../../src/extensions/imagematching/pyramid.js'

function randomImage (width: number, height: number, rnd: () => number): GrayImage {
  return { width, height, data: Float32Array.from({ length: width * height }, () => Math.floor(rnd() * 256)) }
}

function crop (img: GrayImage, x: number, y: number, width: number, height: number): GrayImage {
  const data = new Float32Array(width * height)
  for (let j = 0; j < height; j++) data.set(img.data.subarray((y + j) * img.width + x, (y + j) * img.width + x + width), j * width)
  return { width, height, data }
}

/** Pearson correlation of the template with one window, the textbook way. */
function pearson (base: GrayImage, t: GrayImage, x: number, y: number): number {
  const w = crop(base, x, y, t.width, t.height).data
  const n = w.length
  const mw = w.reduce((a, b) => a + b, 0) / n
  const mt = t.data.reduce((a, b) => a + b, 0) / n
  let num = 0; let dw = 0; let dt = 0
  for (let i = 0; i < n; i++) {
    num += (w[i] - mw) * (t.data[i] - mt)
    dw += (w[i] - mw) ** 2
    dt += (t.data[i] - mt) ** 2
  }
  return num / Math.sqrt(dw * dt)
}

/** A busy 1920x1080 scene: shapes, colours and text, rendered by sharp from SVG. */
async function scene (seed: number, width = 1920, height = 1080): Promise<Buffer> {
  const rnd = seededRandom(seed)
  const colour = (): string => `rgb(${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)},${Math.floor(rnd() * 256)})`
  let shapes = ''
  for (let i = 0; i < 160; i++) {
    const x = Math.floor(rnd() * width); const y = Math.floor(rnd() * height); const r = 8 + Math.floor(rnd() * 70)
    shapes += i % 3 === 0
      ? `<circle cx="${x}" cy="${y}" r="${r}" fill="${colour()}"/>`
      : i % 3 === 1 ? `<rect x="${x}" y="${y}" width="${2 * r}" height="${r}" fill="${colour()}"/>` : `<text x="${x}" y="${y}" font-size="${r}" font-family="DejaVu Sans" fill="${colour()}">pmz ${i}</text>`
  }
  return await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#eeeeee"/>${shapes}</svg>`)).png().toBuffer()
}

describe('normalised cross-correlation', () => {
  it('matches the textbook Pearson correlation at a position and over a whole map', () => {
    const rnd = seededRandom(1)
    const base = randomImage(40, 30, rnd)
    const t = randomImage(7, 5, rnd)
    const prepared = prepareTemplate(t)
    const map = nccMap(base, prepared)
    expect(map.length).toBe((40 - 7 + 1) * (30 - 5 + 1))
    for (const [x, y] of [[0, 0], [33, 25], [12, 7], [5, 20]]) {
      expect(nccAt(base, prepared, x, y)).toBeCloseTo(pearson(base, t, x, y), 6)
      expect(map[y * 34 + x]).toBeCloseTo(pearson(base, t, x, y), 4)
    }
    expect(nccAt(base, prepareTemplate(crop(base, 9, 11, 7, 5)), 9, 11)).toBeCloseTo(1, 9)
  })

  it('is 1 for a brightness and contrast change, -1 for the negative, 0 on a flat window', () => {
    const rnd = seededRandom(2)
    const t = randomImage(8, 8, rnd)
    const brighter = { ...t, data: t.data.map(v => v * 0.5 + 40) }
    const negative = { ...t, data: t.data.map(v => 255 - v) }
    expect(nccAt(brighter, prepareTemplate(t), 0, 0)).toBeCloseTo(1, 6)
    expect(nccAt(negative, prepareTemplate(t), 0, 0)).toBeCloseTo(-1, 6)
    const flat = { width: 8, height: 8, data: new Float32Array(64).fill(77) }
    expect(nccAt(flat, prepareTemplate(t), 0, 0)).toBe(0)
    expect(isFlat(prepareTemplate(flat))).toBe(true)
    expect(isFlat(prepareTemplate(t))).toBe(false)
  })

  it('picks separated peaks and refines a position within a radius', () => {
    const map = Float32Array.from([0.1, 0.9, 0.8, 0, 0, 0, 0.2, 0.7, 0.3])
    // (2,0) and (0,1) are neighbours of the best peak (1,0); (1,2) is two rows away.
    expect(topPeaks(map, 3, 2, 1)).toEqual([{ x: 1, y: 0, score: expect.closeTo(0.9, 5) }, { x: 1, y: 2, score: expect.closeTo(0.7, 5) }])
    expect(topPeaks(map, 3, 2, 2)).toEqual([{ x: 1, y: 0, score: expect.closeTo(0.9, 5) }])
    const rnd = seededRandom(3)
    const base = randomImage(60, 60, rnd)
    const t = prepareTemplate(crop(base, 31, 17, 10, 10))
    expect(refine(base, t, 29, 19, 3)).toMatchObject({ x: 31, y: 17 })
  })
})

describe('pyramid', () => {
  it('halves sizes (rounding down) and keeps a flat image flat', () => {
    const flat = { width: 9, height: 7, data: new Float32Array(63).fill(100) }
    const half = downsample(flat)
    expect([half.width, half.height]).toEqual([4, 3])
    expect([...half.data].every(v => Math.abs(v - 100) < 1e-4)).toBe(true)
    expect(pyramid(flat, 2).map(l => [l.width, l.height])).toEqual([[9, 7], [4, 3], [2, 1]])
  })

  it('chooses the coarsest level that fits the budget without shrinking the template below minSide', () => {
    expect(coarsestLevel(100, 100, 10, 10, { budget: 4e6, minSide: 4 })).toBe(0)
    expect(coarsestLevel(1920, 1080, 200, 200, { budget: 4e6, minSide: 4 })).toBe(4)
    expect(coarsestLevel(1920, 1080, 200, 200, { budget: 2e7, minSide: 4 })).toBe(3)
    expect(coarsestLevel(1920, 1080, 16, 16, { budget: 1, minSide: 4 })).toBe(2)
    expect(coarsestLevel(1920, 1080, 200, 200, { budget: 1, minSide: 50 })).toBe(2)
  })
})

describe('matchTemplate, coarse to fine', () => {
  let base: GrayImage
  let other: GrayImage
  beforeAll(async () => {
    base = await decodeGray(await scene(7), 'base')
    other = await decodeGray(await scene(99, 300, 300), 'other')
  })

  it('finds crops of a 1920x1080 scene at their exact position', () => {
    const rnd = seededRandom(5)
    for (const [w, h] of [[200, 200], [64, 64], [300, 150], [120, 40], [40, 40], [1920, 1080]]) {
      for (let k = 0; k < 3; k++) {
        const x = Math.floor(rnd() * (base.width - w + 1))
        const y = Math.floor(rnd() * (base.height - h + 1))
        const t = crop(base, x, y, w, h)
        if (isFlat(prepareTemplate(t))) continue
        const found = matchTemplate(base, t)
        expect({ x: found.x, y: found.y }, `${w}x${h} at ${x},${y}`).toEqual({ x, y })
        expect(found.score).toBeGreaterThan(0.999)
      }
    }
  })

  it('searches a 1920x1080 base for a 200x200 template well under a second', () => {
    const t = crop(base, 1337, 611, 200, 200)
    const started = performance.now()
    const found = matchTemplate(base, t)
    const ms = performance.now() - started
    expect(found).toMatchObject({ x: 1337, y: 611 })
    expect(ms).toBeLessThan(1000)
  })

  it('scores an unrelated template low', () => {
    const found = matchTemplate(base, crop(other, 50, 50, 200, 200), { goal: 0.9 })
    expect(found.score).toBeLessThan(0.9)
  })

  it('refuses a template larger than the base', () => {
    expect(() => matchTemplate(crop(base, 0, 0, 100, 100), crop(base, 0, 0, 101, 50))).toThrow(RangeError)
  })
})
