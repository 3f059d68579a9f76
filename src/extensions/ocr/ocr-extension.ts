import { availableParallelism } from 'node:os'
import { badRequest } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Builtin } from '../builtin.js'
import { ocrInput } from '../images.js'
import type { ExtensionParams } from '../types.js'
import { first, nonNegativeInt } from '../params.js'
import { OcrPool } from './ocr-pool.js'

export interface OcrInit {
  /** Workers in the pool. @default the number of CPU cores */
  workers?: number
}

/** The answer of `ocr` (pulzar-api.md §5.2): `contains` only when `search` was given. */
export interface OcrResult { text: string, contains?: boolean }

export function createOcr (components: { log: Logger }, init: OcrInit = {}): Builtin {
  const pool = new OcrPool(components.log, Math.max(1, init.workers ?? availableParallelism()))
  return {
    name: 'ocr',
    /** `PUT /extension/ocr/{any-name}[?search=text&invert=0|1]`, body = the image. */
    handle: async (args: string[], params: ExtensionParams, body: Buffer | undefined): Promise<OcrResult> => {
      if (args.length === 0 || args[0] === '') throw badRequest('no args detected')
      if (body === undefined || body.length === 0) throw badRequest('file path empty')
      const invert = (nonNegativeInt(params, 'invert') ?? 0) >= 1
      const search = first(params, 'search')
      const text = await pool.recognize(await ocrInput(body, invert))
      return search === undefined ? { text } : { text, contains: text.toLowerCase().includes(search.toLowerCase()) }
    },
    stop: async () => { await pool.stop() }
  }
}
