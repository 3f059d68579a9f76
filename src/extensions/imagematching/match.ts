import type { GrayImage } from '../images.js'
import { isFlat, nccMap, prepareTemplate, refine, topPeaks, type Candidate } from './ncc.js'
import { coarsestLevel, pyramid, scanCost } from './pyramid.js'

const CANDIDATES = 32

export interface MatchOptions {
  /** Multiply-adds allowed for the full scan of the coarsest level. @default 4e6 */
  budget?: number
  /** Multiply-adds allowed for the second, finer scan made when the first search falls short of `goal`. @default 2e8 */
  retryBudget?: number
  /** A score the caller is content with (its threshold); below it, one finer scan is tried. @default 1 */
  goal?: number
  /** Smallest template side at the coarsest level, in pixels. @default 4 */
  minSide?: number
  /** Peaks of the coarse scan followed down the pyramid. @default 32 */
  candidates?: number
  /** Candidates kept at least, level after level. @default 4 */
  keep?: number
  /** Search radius around a peak's projection on the next finer level, in pixels. @default 3 */
  radius?: number
  /** Candidates scoring this much below the best of a level are dropped. @default 0.25 */
  pruneMargin?: number
}

export interface MatchResult extends Candidate {
  /** Pyramid level of the full scan that found it (0 = full resolution). */
  levels: number
}

/**
 * Finds `template` in `base` by normalised cross-correlation, coarse to
 * fine: a full scan of a small pyramid level yields a few dozen peaks; each
 * is followed down, level by level, within a small radius around its
 * projected position, the weaker half dropped at each level; the best one
 * at full resolution wins. When that best falls short of `goal` (repetitive
 * content can hide the true peak at the coarse level), the search runs once
 * more from the next finer level with more peaks, if its scan fits `retryBudget`.
 */
export function matchTemplate (base: GrayImage, template: GrayImage, options: MatchOptions = {}): MatchResult {
  if (template.width > base.width || template.height > base.height) throw new RangeError('the template is larger than the base image')
  const minSide = options.minSide ?? 4
  const levels = coarsestLevel(base.width, base.height, template.width, template.height, { budget: options.budget ?? 4e6, minSide })
  const bases = pyramid(base, levels)
  const templates = pyramid(template, levels)
  // A template with only fine texture averages out to flat when halved: start where it still has contrast.
  let start = levels
  while (start > 0 && isFlat(prepareTemplate(templates[start]))) start--
  let best = search(bases, templates, start, options)
  const finer = start - 1
  if (best.score < (options.goal ?? 1) - 1e-6 && finer >= 0 &&
      scanCost(bases[finer], templates[finer]) <= (options.retryBudget ?? 2e8)) {
    // Trying harder: a finer scan and four times the peaks (low-contrast templates have many look-alikes).
    const second = search(bases, templates, finer, { ...options, candidates: 4 * (options.candidates ?? CANDIDATES) })
    if (second.score > best.score) best = second
  }
  return best
}

function search (bases: GrayImage[], templates: GrayImage[], start: number, options: MatchOptions): MatchResult {
  const coarse = prepareTemplate(templates[start])
  const radius = options.radius ?? 3
  const margin = options.pruneMargin ?? 0.25
  const keep = options.keep ?? 4
  const map = nccMap(bases[start], coarse)
  // Suppress only near neighbours: repeated content (lines of text) puts distinct peaks a few coarse pixels apart.
  const peakRadius = Math.max(1, Math.min(coarse.width, coarse.height) >> 3)
  let candidates = topPeaks(map, bases[start].width - coarse.width + 1, options.candidates ?? CANDIDATES, peakRadius)
  for (let l = start - 1; l >= 0; l--) {
    const t = prepareTemplate(templates[l])
    // Each level halves the candidates (never below `keep`): following one costs 4x more per level down.
    const cap = Math.max(keep, candidates.length >> 1)
    candidates = prune(candidates.map(c => refine(bases[l], t, 2 * c.x, 2 * c.y, radius)), margin).slice(0, cap)
  }
  return { ...candidates[0], levels: start }
}

/** Sorted best first, duplicates (same position) and clearly worse candidates removed. */
function prune (candidates: Candidate[], margin: number): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score)
  const seen = new Set<string>()
  return sorted.filter(c => {
    const id = `${c.x},${c.y}`
    if (seen.has(id) || c.score < sorted[0].score - margin) return false
    seen.add(id)
    return true
  })
}
