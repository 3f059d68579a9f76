import { join } from 'node:path'
import { systemClock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import type { SyncMode } from '../../src/store/commits.js'
import { Tables } from '../../src/store/tables.js'
import { cleanupPeers, startPeer, tempDir } from '../helpers/peer.js'
import { fmt, load, memory, startScript, stopProcess, transfer, type LoadResult } from './lib.js'
import { asKey } from '../../src/store/index.js'

const KEYS = 10_000
const VALUE = Buffer.alloc(1024, 'x')
const GIB = 1024 ** 3

/**
 * Issue 2's benchmark: 10,000 x 1 KB PUT, GET, DELETE at concurrency 5
 * (Pulzar's stress test) and 64, pmz beside a bare node:http + Map server
 * measured in the same run; then 1 GiB PUT and GET through pmz.
 */
export async function storageBench (): Promise<void> {
  const bare = await startScript(join(import.meta.dirname, 'bare-server.mjs'))
  const peer = await startPeer({ env: { PMZ_MAXSIZE: '2048' } })
  const osPeer = await startPeer({ env: { PMZ_MAXSIZE: '2048', PMZ_STORE_SYNC: 'os' } })
  try {
    console.log('\n== storage: 10,000 x 1 KB, pmz (one peer, LMDB) vs bare node:http + Map ==')
    // Warm-up: the same mix on every server first, so that the figures compare JIT-compiled code.
    for (const target of [bare, peer, osPeer]) {
      for (const [method, verb] of [['PUT', 'add_key'], ['GET', 'get_key'], ['DELETE', 'delete_key']] as const) {
        await load(target.url, { method, amount: 5000, connections: 16, body: method === 'PUT' ? VALUE : undefined, path: i => `/${verb}/warmup/k${i}` })
      }
    }
    const rows: Array<Record<string, string>> = []
    for (const connections of [5, 64]) {
      for (const method of ['PUT', 'GET', 'DELETE'] as const) {
        const verb = { PUT: 'add_key', GET: 'get_key', DELETE: 'delete_key' }[method]
        const run = async (base: string): Promise<LoadResult> => await load(base, {
          method, amount: KEYS, connections, body: method === 'PUT' ? VALUE : undefined,
          path: i => `/${verb}/bench/c${connections}/k${i}`
        })
        const ref = await run(bare.url)
        const pmz = await run(peer.url)
        const os = await run(osPeer.url)
        for (const [name, r] of [['bare', ref], ['pmz', pmz], ['pmz sync=os', os]] as const) {
          if (r.errors + r.non2xx > 0) throw new Error(`${method} c=${connections}: ${name} had ${r.errors} errors, ${r.non2xx} non-2xx`)
        }
        const ms = (r: LoadResult): string => `${fmt(r.p50, 2)}/${fmt(r.p99, 2)}`
        rows.push({
          op: `${method} c=${connections}`,
          'bare req/s': fmt(ref.rps),
          'pmz req/s': fmt(pmz.rps),
          'pmz/bare': fmt(pmz.rps / ref.rps, 2),
          'sync=os req/s': fmt(os.rps),
          'os/bare': fmt(os.rps / ref.rps, 2),
          'p50/p99 ms bare': ms(ref),
          pmz: ms(pmz),
          'sync=os': ms(os)
        })
      }
    }
    console.table(rows)
    console.log('pmz: [store] sync = flush (default, every commit fsynced); sync=os: write-back left to the OS.')
    console.log('targets: PUT >= 0.60x bare, GET >= 0.60x bare')
    const ceiling: Array<Record<string, string>> = []
    for (const connections of [5, 64]) {
      const bareRps = Number(rows.find(r => r.op === `PUT c=${connections}`)?.['bare req/s'])
      const row: Record<string, string> = { op: `PUT c=${connections}` }
      for (const sync of ['flush', 'os'] as const) row[`LMDB ${sync}/bare`] = fmt(await lmdbAlone(sync, connections) / bareRps, 2)
      ceiling.push(row)
    }
    console.table(ceiling)
    console.log('LMDB alone: the same 10,000 1 KB records committed in this process through the store\'s own Tables, no HTTP: the ceiling of a PUT.')

    console.log('\n== storage: 1 GiB PUT then GET through pmz ==')
    const big: Array<Record<string, string>> = []
    for (const [name, p] of [['pmz', peer], ['pmz sync=os', osPeer]] as const) {
      const before = memory(p.pid)
      const put = await transfer('PUT', `${p.url}/add_key/bench/1gib.bin`, GIB)
      const afterPut = memory(p.pid)
      const get = await transfer('GET', `${p.url}/get_key/bench/1gib.bin`, GIB)
      const afterGet = memory(p.pid)
      if (put.status !== 201 || get.status !== 200) throw new Error(`1 GiB PUT answered ${put.status}, GET ${get.status}`)
      if (get.sha256 !== put.sha256) throw new Error('1 GiB value came back different')
      const row = (op: string, seconds: number, m: ReturnType<typeof memory>): Record<string, string> =>
        ({ op: `${name} ${op}`, 'MB/s': fmt(GIB / 2 ** 20 / seconds), 'peak RSS MB': fmt(m.hwm), 'RSS anon MB': fmt(m.anon), 'RSS file MB': fmt(m.file), 'RSS before MB': fmt(before.rss) })
      big.push(row('PUT 1 GiB', put.seconds, afterPut), row('GET 1 GiB', get.seconds, afterGet))
    }
    console.table(big)
    console.log('RSS file = pages of the LMDB map (and binaries) the process has touched: clean page cache the kernel reclaims under pressure.')
    console.log('targets: >= 300 MB/s, peak RSS <= 300 MB')
  } finally {
    stopProcess(bare.proc)
    await cleanupPeers()
  }
}

/** `amount` 1 KB records (a value and its record) committed through the store's tables at `connections` writers, no HTTP: writes per second. */
export async function lmdbAlone (sync: SyncMode, connections: number, amount = KEYS): Promise<number> {
  const t = new Tables({ clock: systemClock, log: createLogger({ level: 'silent' }) }, { dir: join(tempDir(), 'store'), sync, chunkBytes: 256 * 1024 })
  try {
    let next = 0
    const writer = async (): Promise<void> => {
      while (next < amount) {
        const key = `/bench/k${next++}`
        const contentId = Buffer.alloc(16)
        contentId.writeUInt32BE(next)
        const record = { v: 1 as const, version: String(next).padStart(20, '0'), deleted: false, deletedAt: null, size: VALUE.length, sha256: 'x'.repeat(64), contentType: 'application/octet-stream', created: Date.now(), expires: null, contentId, chunkBytes: 256 * 1024 }
        await t.commit(() => {
          if (t.meta.get(asKey(key)) === undefined) t.putRecord(asKey(key), record, undefined, VALUE, false)
        })
      }
    }
    const started = performance.now()
    await Promise.all(Array.from({ length: connections }, writer))
    return amount / ((performance.now() - started) / 1000)
  } finally {
    await t.close()
  }
}
