import type { GrayImage } from '../images.js'

/**
 * Half the size, as OpenCV's pyrDown: a 5-tap binomial blur (1 4 6 4 1)/16
 * in each direction, then every second pixel. The blur keeps the coarse
 * levels of the base and of the template alike even when the template's
 * position is not a multiple of the scale (a 2x2 mean aliases thin strokes,
 * e.g. text, differently for each phase).
 */
export function downsample (img: GrayImage): GrayImage {
  const { width: w, height: h, data: src } = img
  const width = w >> 1
  const height = h >> 1
  // Horizontal pass, keeping every second column.
  const tmp = new Float32Array(width * h)
  for (let y = 0; y < h; y++) {
    const row = y * w
    for (let x = 0; x < width; x++) {
      const c = 2 * x
      tmp[y * width + x] = (src[row + mirror(c - 2, w)] + 4 * src[row + mirror(c - 1, w)] + 6 * src[row + c] +
        4 * src[row + mirror(c + 1, w)] + src[row + mirror(c + 2, w)]) * 0.0625
    }
  }
  // Vertical pass, keeping every second row.
  const data = new Float32Array(width * height)
  for (let y = 0; y < height; y++) {
    const c = 2 * y
    const r0 = mirror(c - 2, h) * width
    const r1 = mirror(c - 1, h) * width
    const r2 = c * width
    const r3 = mirror(c + 1, h) * width
    const r4 = mirror(c + 2, h) * width
    for (let x = 0; x < width; x++) {
      data[y * width + x] = (tmp[r0 + x] + 4 * tmp[r1 + x] + 6 * tmp[r2 + x] + 4 * tmp[r3 + x] + tmp[r4 + x]) * 0.0625
    }
  }
  return { width, height, data }
}

/** Reflects an index that fell off either end back inside [0, n) (OpenCV's BORDER_REFLECT_101). */
function mirror (i: number, n: number): number {
  if (i < 0) return Math.min(-i, n - 1)
  if (i >= n) return Math.max(0, 2 * n - 2 - i)
  return i
}

/** Levels 0 (the image) to `levels`, each half the previous. */
export function pyramid (img: GrayImage, levels: number): GrayImage[] {
  const out = [img]
  for (let l = 1; l <= levels; l++) out.push(downsample(out[l - 1]))
  return out
}

/** Multiply-adds of a full correlation scan of `base` with `template`. */
export function scanCost (base: { width: number, height: number }, template: { width: number, height: number }): number {
  return (base.width - template.width + 1) * (base.height - template.height + 1) * template.width * template.height
}

export interface LevelChoice {
  /** Multiply-adds one full correlation scan may cost at the coarsest level. */
  budget: number
  /** Smallest template side kept at the coarsest level (below it the peaks stop meaning much). */
  minSide: number
}

/**
 * How many times to halve so that a full scan of the coarsest level fits the
 * budget, without shrinking the template's smaller side below `minSide`.
 */
export function coarsestLevel (baseW: number, baseH: number, tplW: number, tplH: number, choice: LevelChoice): number {
  let level = 0
  let [bw, bh, tw, th] = [baseW, baseH, tplW, tplH]
  for (;;) {
    const cost = (bw - tw + 1) * (bh - th + 1) * tw * th
    if (cost <= choice.budget) return level
    const [nbw, nbh, ntw, nth] = [bw >> 1, bh >> 1, tw >> 1, th >> 1]
    if (Math.min(ntw, nth) < choice.minSide || ntw > nbw || nth > nbh) return level
    ;[bw, bh, tw, th] = [nbw, nbh, ntw, nth]
    level++
  }
}
