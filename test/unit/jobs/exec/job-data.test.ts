import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { StoreJobData, type StoreJobDataComponents } from '../../../../src/jobs/index.js'
import { asKey, createLocalStore, type PutOptions, type ReplicaStore, type ValueMeta } from '../../../../src/store/index.js'
import { codeOf } from '../../../helpers/errors.js'
import { ManualClock } from '../../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const CHUNK = 64 * 1024

async function * once (bytes: Uint8Array): AsyncIterable<Uint8Array> { yield bytes }

async function readAll (body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const p of body) parts.push(Buffer.from(p))
  return Buffer.concat(parts)
}

describe('StoreJobData (pulzar_data files and big outputs)', () => {
  const stores: ReplicaStore[] = []
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function replica (): Promise<ReplicaStore> {
    const store = createLocalStore({ clock: new ManualClock(), log }, { dir: tempDir('pmz-jobdata-store-'), peerId: 'p1', chunkBytes: CHUNK, sync: 'os' })
    await store.start()
    stores.push(store)
    return store
  }

  it('copies the value from this peer\'s replica into a file named like the key, which the job may change, and removes it after', async () => {
    const local = await replica()
    const big = randomBytes(3 * CHUNK + 5) // a blob file
    await local.put(asKey('/d/big.bin'), once(big))
    await local.put(asKey('/d/small.txt'), once(Buffer.from('hello')))
    const dir = join(tempDir('pmz-jobdata-'), 'job-data')
    const data = new StoreJobData({ store: local, local, log }, { dir })
    await data.start()
    const file = await data.open('/d/big.bin', { jobId: 7, attempt: 2 })
    expect(file.path).toBe(join(dir, '7-2', 'big.bin'))
    expect(readFileSync(file.path).equals(big)).toBe(true)
    // The file is the job's: writing into it leaves the stored value alone.
    writeFileSync(file.path, 'scribbled')
    expect((await readAll((await local.get(asKey('/d/big.bin'))).body as Readable)).equals(big)).toBe(true)
    await file.release()
    expect(existsSync(join(dir, '7-2'))).toBe(false)
    const small = await data.open('/d/small.txt', { jobId: 8, attempt: 1 })
    expect(readFileSync(small.path, 'utf8')).toBe('hello')
    await small.release()
  })

  it('fetches the value through the store when this peer holds no copy or an older one', async () => {
    const local = await replica()
    await local.put(asKey('/d/x.bin'), once(Buffer.from('old')))
    const fresh = Buffer.from('new content')
    const meta = { key: '/d/x.bin', size: fresh.length, sha256: 'other' } as ValueMeta
    const store: StoreJobDataComponents['store'] = {
      stat: async key => key === '/d/x.bin' || key === '/d/far.bin' ? meta : undefined,
      get: async () => ({ meta, body: Readable.from([fresh.subarray(0, 4), fresh.subarray(4)]) }),
      put: async () => { throw new Error('unused') }
    }
    const data = new StoreJobData({ store, local, log }, { dir: tempDir('pmz-jobdata-') })
    for (const key of ['/d/x.bin', '/d/far.bin']) {
      const file = await data.open(key, { jobId: 1, attempt: 1 })
      expect(readFileSync(file.path, 'utf8')).toBe('new content')
      await file.release()
    }
  })

  it('answers ERR_NOT_FOUND for a key with no value and leaves nothing behind', async () => {
    const local = await replica()
    const dir = tempDir('pmz-jobdata-')
    const data = new StoreJobData({ store: local, local, log }, { dir })
    expect(await codeOf(data.open('/d/none.bin', { jobId: 3, attempt: 1 }))).toBe('ERR_NOT_FOUND')
    expect(existsSync(join(dir, '3-1'))).toBe(false)
  })

  it('empties its directory at start (files a crash left)', async () => {
    const dir = tempDir('pmz-jobdata-')
    mkdirSync(join(dir, '9-1'))
    writeFileSync(join(dir, '9-1', 'x.bin'), 'left over')
    const local = await replica()
    await new StoreJobData({ store: local, local, log }, { dir }).start()
    expect(existsSync(join(dir, '9-1'))).toBe(false)
  })

  it('keeps an output up to the limit inline and puts a bigger one into the store under the attempt\'s key', async () => {
    const puts: Array<{ key: string, bytes: Buffer, options?: PutOptions }> = []
    const store: StoreJobDataComponents['store'] = {
      stat: async () => undefined,
      get: async () => { throw new Error('unused') },
      put: async (key, body, options) => { puts.push({ key, bytes: await readAll(body), options }); return { key } as ValueMeta }
    }
    const data = new StoreJobData({ store, log }, { dir: tempDir('pmz-jobdata-'), inlineMaxBytes: 100, outputDays: 90 })
    const at = { jobId: 12, attempt: 3 }
    for (const small of [null, 42, 'x'.repeat(100), { a: 'y'.repeat(90) }]) expect(await data.keepOutput(small, at)).toEqual({ output: small })
    // 34 characters of three UTF-8 bytes each: 102 bytes.
    const text = '€'.repeat(34)
    expect(await data.keepOutput(text, at)).toEqual({ output: null, outputKey: '/_jobs/12/3/output' })
    const obj = { rows: Array.from({ length: 40 }, (_, i) => i) }
    expect(await data.keepOutput(obj, { jobId: 12, attempt: 4 })).toEqual({ output: null, outputKey: '/_jobs/12/4/output' })
    expect(puts.map(p => [p.key, p.bytes.toString(), p.options?.contentType, p.options?.temporalDays])).toEqual([
      ['/_jobs/12/3/output', text, 'text/plain; charset=utf-8', 90],
      ['/_jobs/12/4/output', JSON.stringify(obj), 'application/json', 90]
    ])
  })
})
