import { availableParallelism } from 'node:os'
import { badRequest } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Store } from '../../store/index.js'
import type { Builtin } from '../builtin.js'
import { MAX_IMAGE_BYTES } from '../constants.js'
import { decodeGray } from '../images.js'
import type { ExtensionContext, ExtensionParams } from '../types.js'
import { first } from '../params.js'
import { clusterOrigins, loadImageSource } from './image-source.js'
import { MatchPool } from './match-pool.js'
import { isFlat, prepareTemplate } from './ncc.js'

/** Pulzar's default threshold, and the range of `percent` it honours (others are ignored). */
const DEFAULT_THRESHOLD = 0.8
const MIN_PERCENT = 10
const MAX_PERCENT = 100
/** Float noise of an exact match (0.99999994) must still pass percent=100. */
const SCORE_EPSILON = 1e-6
/** A score past which the coarse-to-fine search does not look further. */
const NEAR_EXACT = 0.999
/** Worker threads for matching, at most (fewer on fewer cores). */
const MATCH_WORKERS = 2

/**
 * The answer (pulzar-api.md §5.3). `coordinates` is the match box (x, y of
 * its top-left corner, w, h of the template: Pulzar reported the base
 * image's size), `percent_of_match` the threshold used, `score` the best
 * correlation (0-1).
 */
export interface ImageMatchResult {
  found: boolean
  percent_of_match: number
  score: number
  coordinates: { x: number, y: number, w: number, h: number } | Record<string, never>
  msg: string | null
}

export interface ImageMatchingComponents {
  store: Store
  log: Logger
  /** HTTP base URLs of this cluster's gateways (this peer's included): `image_url`s under them name keys. */
  gateways?: () => readonly string[]
}

export function createImageMatching (components: ImageMatchingComponents, init: { maxImageBytes?: number } = {}): Builtin {
  const maxBytes = init.maxImageBytes ?? MAX_IMAGE_BYTES
  const pool = new MatchPool(components.log, Math.min(MATCH_WORKERS, availableParallelism()))
  return {
    name: 'imagematching',
    /** `PUT /extension/imagematching?image_url={key or URL}[&percent=10..100]`, body = the template. */
    handle: async (_args: string[], params: ExtensionParams, body: Buffer | undefined, ctx: ExtensionContext): Promise<ImageMatchResult> => {
      const imageUrl = first(params, 'image_url')
      if (imageUrl === undefined || imageUrl === '') throw badRequest('you must provide an url for the base image')
      const threshold = thresholdOf(first(params, 'percent'))
      if (body === undefined || body.length === 0) throw badRequest('the template image (the PUT body) is missing')
      const [template, base] = await Promise.all([
        decodeGray(body, 'the template (the PUT body)'),
        loadImageSource(imageUrl, { store: ctx.store, isClusterOrigin: clusterOrigins(ctx.baseUrl, components.gateways), maxBytes, signal: ctx.signal })
          .then(async bytes => await decodeGray(bytes, 'the base image (image_url)'))
      ])
      if (template.width > base.width || template.height > base.height) {
        throw badRequest('the template is larger than the base image', {
          template: `${template.width}x${template.height}`, base: `${base.width}x${base.height}`
        })
      }
      if (isFlat(prepareTemplate(template))) throw badRequest('the template has a single colour: there is nothing to match')
      ctx.signal.throwIfAborted()
      // Content with a near-exact match stops at the first search; anything else earns one finer retry.
      const best = await pool.match(base, template, { goal: Math.max(threshold, NEAR_EXACT) })
      const score = Math.round(Math.max(0, best.score) * 10_000) / 10_000
      return best.score >= threshold - SCORE_EPSILON
        ? { found: true, percent_of_match: threshold, score, coordinates: { x: best.x, y: best.y, w: template.width, h: template.height }, msg: null }
        : { found: false, percent_of_match: threshold, score, coordinates: {}, msg: 'percent criteria does not match' }
    },
    stop: async () => { await pool.stop() }
  }
}

/** `percent` as a fraction; out of 10-100 it is ignored (Pulzar); not a number is a 400. */
function thresholdOf (raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_THRESHOLD
  const percent = Number(raw)
  if (!Number.isFinite(percent)) throw badRequest('percent must be a number from 10 to 100')
  return percent >= MIN_PERCENT && percent <= MAX_PERCENT ? percent / 100 : DEFAULT_THRESHOLD
}
