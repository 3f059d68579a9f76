import type { GrayImage } from '../images.js'

/** A template ready to correlate: its zero-mean pixels and their norm sqrt(sum t'^2). */
export interface PreparedTemplate {
  width: number
  height: number
  zeroMean: Float64Array
  norm: number
}

/** Best positions found, top-left corner in the base image's pixels. */
export interface Candidate { x: number, y: number, score: number }

/** Below this variance per pixel a window is flat: its correlation is taken as 0 (OpenCV's guard does the same). */
const FLAT_VARIANCE = 1e-6

export function prepareTemplate (t: GrayImage): PreparedTemplate {
  const n = t.width * t.height
  let sum = 0
  for (let i = 0; i < n; i++) sum += t.data[i]
  const mean = sum / n
  const zeroMean = new Float64Array(n)
  let ss = 0
  for (let i = 0; i < n; i++) {
    const d = t.data[i] - mean
    zeroMean[i] = d
    ss += d * d
  }
  return { width: t.width, height: t.height, zeroMean, norm: ss > FLAT_VARIANCE * n ? Math.sqrt(ss) : 0 }
}

/** True when the template has no contrast (its correlation with anything is undefined). */
export function isFlat (t: PreparedTemplate): boolean { return t.norm === 0 }

function finish (num: number, sum: number, sumSq: number, n: number, t: PreparedTemplate): number {
  const variance = sumSq - sum * sum / n
  if (t.norm === 0 || variance <= FLAT_VARIANCE * n) return 0
  const r = num / (t.norm * Math.sqrt(variance))
  return r > 1 ? 1 : r < -1 ? -1 : r
}

/**
 * The normalised correlation coefficient (OpenCV's TM_CCOEFF_NORMED) of the
 * template with the window of `base` whose top-left corner is (x, y):
 * sum(t' * w) / sqrt(sum t'^2 * sum w'^2), where ' means "minus its mean";
 * sum(t' * w') = sum(t' * w) because t' sums to zero.
 */
export function nccAt (base: GrayImage, t: PreparedTemplate, x: number, y: number): number {
  const { width: tw, height: th, zeroMean } = t
  const b = base.data
  const bw = base.width
  let num = 0
  let sum = 0
  let sumSq = 0
  for (let j = 0; j < th; j++) {
    const row = (y + j) * bw + x
    const trow = j * tw
    for (let i = 0; i < tw; i++) {
      const v = b[row + i]
      num += zeroMean[trow + i] * v
      sum += v
      sumSq += v * v
    }
  }
  return finish(num, sum, sumSq, tw * th, t)
}

/**
 * The correlation at every position (a (W-w+1) x (H-h+1) map, row by row).
 * Window sums come from integral images; the products are summed directly,
 * so this is meant for small (coarse pyramid level) images.
 */
export function nccMap (base: GrayImage, t: PreparedTemplate): Float32Array {
  const { width: bw, height: bh, data: b } = base
  const { width: tw, height: th, zeroMean } = t
  const mw = bw - tw + 1
  const mh = bh - th + 1
  const iw = bw + 1
  const sum = new Float64Array(iw * (bh + 1))
  const sumSq = new Float64Array(iw * (bh + 1))
  for (let y = 0; y < bh; y++) {
    let rowSum = 0
    let rowSq = 0
    for (let x = 0; x < bw; x++) {
      const v = b[y * bw + x]
      rowSum += v
      rowSq += v * v
      sum[(y + 1) * iw + x + 1] = sum[y * iw + x + 1] + rowSum
      sumSq[(y + 1) * iw + x + 1] = sumSq[y * iw + x + 1] + rowSq
    }
  }
  const n = tw * th
  const out = new Float32Array(mw * mh)
  for (let y = 0; y < mh; y++) {
    for (let x = 0; x < mw; x++) {
      let num = 0
      for (let j = 0; j < th; j++) {
        const row = (y + j) * bw + x
        const trow = j * tw
        for (let i = 0; i < tw; i++) num += zeroMean[trow + i] * b[row + i]
      }
      const a = y * iw + x
      const c = (y + th) * iw + x
      const s = sum[c + tw] - sum[c] - sum[a + tw] + sum[a]
      const s2 = sumSq[c + tw] - sumSq[c] - sumSq[a + tw] + sumSq[a]
      out[y * mw + x] = finish(num, s, s2, n, t)
    }
  }
  return out
}

/**
 * The `count` best positions of a correlation map, each at least `radius`
 * pixels (Chebyshev) from a better one (non-maximum suppression).
 */
export function topPeaks (map: Float32Array, mapWidth: number, count: number, radius: number): Candidate[] {
  const scores = Float32Array.from(map)
  const mapHeight = scores.length / mapWidth
  const out: Candidate[] = []
  for (let k = 0; k < count; k++) {
    let best = -1
    let bestScore = -Infinity
    for (let i = 0; i < scores.length; i++) {
      if (scores[i] > bestScore) {
        bestScore = scores[i]
        best = i
      }
    }
    if (best === -1) break
    const x = best % mapWidth
    const y = (best - x) / mapWidth
    out.push({ x, y, score: bestScore })
    for (let j = Math.max(0, y - radius); j <= Math.min(mapHeight - 1, y + radius); j++) {
      for (let i = Math.max(0, x - radius); i <= Math.min(mapWidth - 1, x + radius); i++) scores[j * mapWidth + i] = -Infinity
    }
  }
  return out
}

/** The best position within `radius` of (cx, cy), clamped to where the template fits. */
export function refine (base: GrayImage, t: PreparedTemplate, cx: number, cy: number, radius: number): Candidate {
  const maxX = base.width - t.width
  const maxY = base.height - t.height
  let best: Candidate = { x: 0, y: 0, score: -Infinity }
  for (let y = Math.max(0, cy - radius); y <= Math.min(maxY, cy + radius); y++) {
    for (let x = Math.max(0, cx - radius); x <= Math.min(maxX, cx + radius); x++) {
      const score = nccAt(base, t, x, y)
      if (score > best.score) best = { x, y, score }
    }
  }
  return best
}
