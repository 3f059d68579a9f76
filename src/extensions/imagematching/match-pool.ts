import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { PmzError } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { GrayImage } from '../images.js'
import { matchTemplate, type MatchOptions, type MatchResult } from './match.js'

/** What the pool sends a worker; the pixel buffers are transferred, not copied. */
export interface MatchJob { id: number, base: GrayImage, template: GrayImage, options: MatchOptions }
export type MatchReply = { id: number, result: MatchResult } | { id: number, error: string }

interface Pending { job: MatchJob, resolve: (r: MatchResult) => void, reject: (err: Error) => void }
interface Slot { worker: Worker, job: Pending | undefined }

/**
 * Runs template matching on worker threads (a 1920x1080 search is tens of
 * milliseconds of arithmetic that would otherwise stall every request of
 * the peer). Workers start on first use and stay; a job waits when all are
 * busy. From the TypeScript sources (unit tests) there is no compiled
 * worker script, and matching runs in the calling thread.
 */
export class MatchPool {
  private readonly slots: Slot[] = []
  private readonly queue: Pending[] = []
  private readonly script = fileURLToPath(new URL('./match-worker.js', import.meta.url))
  private nextId = 0
  private stopped = false

  constructor (private readonly log: Logger, private readonly size: number) {}

  async match (base: GrayImage, template: GrayImage, options: MatchOptions): Promise<MatchResult> {
    if (this.stopped) throw new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down')
    if (!existsSync(this.script)) return matchTemplate(base, template, options)
    return await new Promise<MatchResult>((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, base, template, options }, resolve, reject })
      this.dispatch()
    })
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const p of this.queue.splice(0)) p.reject(new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down'))
    await Promise.allSettled(this.slots.splice(0).map(async s => await s.worker.terminate()))
  }

  private dispatch (): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find(s => s.job === undefined)
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn()
      if (slot === undefined) return
      const pending = this.queue.shift() as Pending
      slot.job = pending
      const { base, template } = pending.job
      slot.worker.postMessage(pending.job, [base.data.buffer as ArrayBuffer, template.data.buffer as ArrayBuffer])
    }
  }

  private spawn (): Slot {
    const slot: Slot = { worker: new Worker(this.script), job: undefined }
    slot.worker.unref()
    slot.worker.on('message', (reply: MatchReply) => {
      const pending = slot.job
      slot.job = undefined
      if (pending !== undefined) {
        if ('result' in reply) pending.resolve(reply.result)
        else pending.reject(new PmzError('ERR_INTERNAL', reply.error))
      }
      this.dispatch()
    })
    const fail = (err: Error): void => {
      const i = this.slots.indexOf(slot)
      if (i === -1) return
      this.slots.splice(i, 1)
      if (!this.stopped) this.log.error({ err }, 'an image matching worker died')
      slot.job?.reject(new PmzError('ERR_INTERNAL', 'image matching failed', { cause: err }))
      slot.job = undefined
      this.dispatch()
    }
    slot.worker.on('error', fail)
    slot.worker.on('exit', code => { fail(new Error(`worker exited with code ${code}`)) })
    this.slots.push(slot)
    return slot
  }
}
