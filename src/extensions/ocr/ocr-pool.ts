import { createRequire } from 'node:module'
import Tesseract from 'tesseract.js'
import { PmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'

/** tesseract.js's OEM.LSTM_ONLY (a `declare enum`, so not importable as a value). */
const OEM_LSTM_ONLY = 1

/** Where `@tesseract.js-data/eng` keeps its traineddata, and whether it is gzipped (as the package ships it). */
export function englishData (): { langPath: string, gzip: boolean } {
  const require = createRequire(import.meta.url)
  const data = require('@tesseract.js-data/eng') as { langPath: string, gzip: boolean }
  return { langPath: data.langPath, gzip: data.gzip }
}

/**
 * A pool of tesseract.js workers behind one scheduler, created on first use
 * and reused. The English data is read from the npm package: no download at
 * run time, no cache written (`cacheMethod: 'none'`).
 */
export class OcrPool {
  private ready: Promise<Tesseract.Scheduler> | undefined
  private readonly workers: Tesseract.Worker[] = []
  private stopped = false

  constructor (private readonly log: Logger, private readonly size: number) {}

  /** The recognised text of an encoded image. */
  async recognize (image: Buffer): Promise<string> {
    if (this.stopped) throw new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down')
    this.ready ??= this.create().catch(err => {
      this.ready = undefined // let the next request try again
      throw err
    })
    const scheduler = await this.ready
    const result = await scheduler.addJob('recognize', image)
    return result.data.text
  }

  async stop (): Promise<void> {
    this.stopped = true
    await this.ready?.catch(() => {})
    const results = await Promise.allSettled(this.workers.splice(0).map(async w => await w.terminate()))
    for (const r of results) if (r.status === 'rejected') this.log.warn({ err: r.reason }, 'terminating an OCR worker failed')
  }

  private async create (): Promise<Tesseract.Scheduler> {
    const started = performance.now()
    const { langPath, gzip } = englishData()
    const scheduler = Tesseract.createScheduler()
    const created = await Promise.allSettled(Array.from({ length: this.size }, async () =>
      await Tesseract.createWorker('eng', OEM_LSTM_ONLY, {
        langPath,
        gzip,
        cacheMethod: 'none',
        errorHandler: (err: unknown) => { this.log.error({ err }, 'OCR worker error') }
      })))
    for (const r of created) {
      if (r.status === 'fulfilled') {
        this.workers.push(r.value)
        scheduler.addWorker(r.value)
      } else {
        this.log.error({ err: r.reason }, 'an OCR worker failed to start')
      }
    }
    if (this.stopped) {
      await Promise.allSettled(this.workers.splice(0).map(async w => await w.terminate()))
      throw new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down')
    }
    if (this.workers.length === 0) throw new PmzError('ERR_INTERNAL', 'OCR is unavailable: no Tesseract worker could start')
    this.log.info({ workers: this.workers.length, ms: Math.round(performance.now() - started) }, 'OCR workers ready')
    return scheduler
  }
}
