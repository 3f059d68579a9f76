import { open as openFile, mkdir, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { notFound } from '../../common/errors.js'
import type { Logger } from '../../common/logger.js'
import type { Startable } from '../../common/startable.js'
import { asKey, type Key, type ReplicaStore, type Store } from '../../store/index.js'
import { OUTPUT_INLINE_MAX_BYTES } from '../table/constants.js'
import type { AttemptId, DataFile, JobData } from './types.js'

export interface StoreJobDataComponents {
  /** The mesh-wide store: which content of a key is the newest, a fetch of it, and where big outputs go. */
  store: Pick<Store, 'stat' | 'get' | 'put'>
  /** This peer's own replica, copied from without a mesh round trip; absent: every value is fetched through `store`. */
  local?: Pick<ReplicaStore, 'stat' | 'copyTo'>
  log: Logger
}

export interface StoreJobDataInit {
  /**
   * Where data files live, one directory per attempt, removed after it.
   * Under the peer's data dir, beside the store, so that a copy of a blob
   * can be a reflink. Emptied at start (what a crash left).
   */
  dir: string
  /** Days an output key lives (`temporal`, the history's retention); absent: permanent. */
  outputDays?: number
  /** @default OUTPUT_INLINE_MAX_BYTES */
  inlineMaxBytes?: number
}

/** The store key of an attempt's big output: one per attempt, so a late report of a lost attempt cannot overwrite the one the job shows. */
export function outputKeyOf (a: AttemptId): Key {
  return asKey(`/_jobs/${a.jobId}/${a.attempt}/output`)
}

/**
 * Store data around job attempts on a worker (pulzar-api.md §6.3; issue 14
 * "Results"): the `pulzar_data` value as a local file the script reads
 * (`ctx.dataFile`, `PMZ_DATA_FILE`), and outputs over 1 MB put into the
 * store rather than into the replicated job table.
 */
export class StoreJobData implements JobData, Startable {
  private readonly inlineMaxBytes: number

  constructor (private readonly c: StoreJobDataComponents, private readonly init: StoreJobDataInit) {
    this.inlineMaxBytes = init.inlineMaxBytes ?? OUTPUT_INLINE_MAX_BYTES
  }

  async start (): Promise<void> {
    await rm(this.init.dir, { recursive: true, force: true })
  }

  async stop (): Promise<void> {}

  async open (dataKey: string, a: AttemptId): Promise<DataFile> {
    const key = asKey(dataKey)
    const dir = join(this.init.dir, `${a.jobId}-${a.attempt}`)
    const release = async (): Promise<void> => {
      await rm(dir, { recursive: true, force: true }).catch(err => this.c.log.warn({ err, jobId: a.jobId }, 'removing a job data file failed'))
    }
    // The file keeps the key's name: scripts that look at the extension see the one it was stored with.
    const path = join(dir, basename(key))
    try {
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
      const newest = await this.c.store.stat(key)
      if (newest === undefined) throw notFound(`pulzar_data key ${key} not found`)
      const mine = await this.c.local?.stat(key)
      if (this.c.local !== undefined && mine?.sha256 === newest.sha256) {
        await this.c.local.copyTo(key, path)
      } else {
        this.c.log.debug({ jobId: a.jobId, key }, 'job data not held here: fetching it')
        await this.fetch(key, path)
      }
      return { path, release }
    } catch (err) {
      await release()
      throw err
    }
  }

  async keepOutput (output: unknown, a: AttemptId): Promise<{ output: unknown, outputKey?: string }> {
    if (output === null || output === undefined) return { output }
    // A UTF-8 byte is at least a third of a UTF-16 unit: a short string needs no measuring.
    if (typeof output === 'string' && output.length * 3 <= this.inlineMaxBytes) return { output }
    const text = typeof output === 'string' ? output : JSON.stringify(output)
    const bytes = Buffer.from(text)
    if (bytes.length <= this.inlineMaxBytes) return { output }
    const key = outputKeyOf(a)
    await this.c.store.put(key, once(bytes), {
      contentType: typeof output === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
      sizeHint: bytes.length,
      ...(this.init.outputDays !== undefined ? { temporalDays: this.init.outputDays } : {})
    })
    return { output: null, outputKey: key }
  }

  async storeOutput (key: Key, output: unknown): Promise<void> {
    const text = typeof output === 'string' ? output : JSON.stringify(output ?? null)
    const bytes = Buffer.from(text)
    await this.c.store.put(key, once(bytes), { contentType: typeof output === 'string' ? 'text/plain; charset=utf-8' : 'application/json', sizeHint: bytes.length })
  }

  /** Writes the newest value, read through the store (from another replica), to `path`. */
  private async fetch (key: Key, path: string): Promise<void> {
    const fh = await openFile(path, 'wx')
    try {
      const value = await this.c.store.get(key)
      if (Buffer.isBuffer(value.body)) await fh.write(value.body)
      else for await (const piece of value.body) await fh.write(piece as Buffer)
    } finally {
      await fh.close()
    }
  }
}

async function * once (bytes: Uint8Array): AsyncIterable<Uint8Array> { yield bytes }
