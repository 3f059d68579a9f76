import { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import type { Builtin } from '../../../src/extensions/builtin.js'
import type { ExtensionContext, ExtensionParams } from '../../../src/extensions/index.js'
import { createSearch } from '../../../src/extensions/search/search-extension.js'
import { asKey, createStore, type Store } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const BASE = 'http://peer:31414'
const at = (y: number, m: number, d: number, h = 12): number => new Date(y, m - 1, d, h).getTime()

describe('search extension on an LMDB store with a manual clock', () => {
  const stores: Store[] = []
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop()
    await cleanupPeers()
  })

  async function setup (start = at(2021, 3, 1)): Promise<{ store: Store, clock: ManualClock }> {
    const clock = new ManualClock(start)
    const store = createStore({ clock, log }, { dir: tempDir('pmz-search-'), peerId: 'p1', sweepIntervalMs: 3_600_000 })
    await store.start()
    stores.push(store)
    return { store, clock }
  }

  const put = async (store: Store, key: string, temporalDays?: number): Promise<void> => {
    await store.put(asKey(key), Readable.from([Buffer.from(key)]), { temporalDays })
  }

  const run = async (search: Builtin, text: string, params: Record<string, string>, store: Store): Promise<string[]> => {
    const p: ExtensionParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, [v]]))
    const ctx: ExtensionContext = { store, log, signal: new AbortController().signal, method: 'GET', baseUrl: BASE }
    const hits = await search.handle(text === '' ? [] : text.split('/'), p, undefined, ctx) as Array<{ key: string, url: string }>
    for (const h of hits) expect(h.url).toBe(`${BASE}/get_key${h.key}`)
    return hits.map(h => h.key)
  }

  it('filters by upload day (eq, lt, gt, both) over keys written on different days', async () => {
    const { store, clock } = await setup()
    await put(store, '/logs/march1.txt')
    await put(store, '/logs/march1.bin')
    clock.set(at(2021, 3, 15, 23))
    await put(store, '/logs/march15.txt')
    clock.set(at(2021, 6, 30, 0))
    await put(store, '/photos/june30.png')
    const search = createSearch({ store, clock, log })
    await search.start?.()

    expect(await run(search, '', {}, store)).toEqual(['/logs/march1.bin', '/logs/march1.txt', '/logs/march15.txt', '/photos/june30.png'])
    expect(await run(search, 'logs', { eq: '03-01-2021' }, store)).toEqual(['/logs/march1.bin', '/logs/march1.txt'])
    expect(await run(search, '', { eq: '2021-03-15' }, store)).toEqual(['/logs/march15.txt'])
    expect(await run(search, '', { lt: '3-15-2021' }, store)).toEqual(['/logs/march1.bin', '/logs/march1.txt', '/logs/march15.txt'])
    expect(await run(search, '', { gt: '03-15-2021' }, store)).toEqual(['/logs/march15.txt', '/photos/june30.png'])
    expect(await run(search, '', { gt: '03-02-2021', lt: '06-29-2021' }, store)).toEqual(['/logs/march15.txt'])
    expect(await run(search, '.txt', { gt: '01-01-2021', limit: '1' }, store)).toEqual(['/logs/march1.txt'])
    expect(await run(search, 'logs/march1.', {}, store)).toEqual(['/logs/march1.bin', '/logs/march1.txt'])
    expect(await run(search, '', { eq: '03-02-2021' }, store)).toEqual([])
    await search.stop?.()
  })

  it('follows puts, deletes and expiries after the index is built', async () => {
    const { store, clock } = await setup()
    const search = createSearch({ store, clock, log })
    await search.start?.()
    await put(store, '/a.txt')
    await put(store, '/b.txt', 1)
    expect(await run(search, '', {}, store)).toEqual(['/a.txt', '/b.txt'])
    await store.delete(asKey('/a.txt'))
    expect(await run(search, '', {}, store)).toEqual(['/b.txt'])
    clock.advance(86_400_000 + 1)
    expect(await run(search, '', {}, store)).toEqual([]) // expired, before the sweeper ran
    clock.set(at(2021, 3, 5))
    await put(store, '/a.txt')
    expect(await run(search, '', { eq: '03-05-2021' }, store)).toEqual(['/a.txt'])
    await search.stop?.()
  })

  it('hears the store sweep expired keys (key:change, reason expired)', async () => {
    const { store, clock } = await setup()
    const changes: unknown[] = []
    const off = store.on('key:change', c => changes.push(c))
    await put(store, '/tmp.txt', 1)
    await put(store, '/keep.txt')
    await store.delete(asKey('/keep.txt'))
    await clock.advanceAsync(86_400_000 + 3_600_000)
    await (store as unknown as { sweep: () => Promise<void> }).sweep()
    off()
    expect(changes.map(c => { const { type, reason, key, meta } = c as { type: string, reason?: string, key?: string, meta?: { key: string } }; return [type, key ?? meta?.key, reason] }))
      .toEqual([['put', '/tmp.txt', undefined], ['put', '/keep.txt', undefined], ['delete', '/keep.txt', 'deleted'], ['delete', '/tmp.txt', 'expired']])
  })

  it('keeps changes made while the index is being built', async () => {
    const { store, clock } = await setup()
    await put(store, '/before/keep.txt')
    await put(store, '/before/gone.txt')
    let first = true
    // A listing that returns a page read before two changes that commit while the build is under way.
    const racing: Store = Object.assign(Object.create(store) as Store, {
      list: async (options: object) => {
        const page = await store.list(options)
        if (first) {
          first = false
          await put(store, '/during/new.txt')
          await store.delete(asKey('/before/gone.txt'))
        }
        return page
      },
      on: store.on.bind(store)
    })
    const search = createSearch({ store: racing, clock, log })
    await search.start?.()
    expect(await run(search, '', {}, store)).toEqual(['/before/keep.txt', '/during/new.txt'])
    await search.stop?.()
  })

  it('answers bad dates and limits with ERR_BAD_REQUEST', async () => {
    const { store, clock } = await setup()
    const search = createSearch({ store, clock, log })
    await search.start?.()
    const bad: Array<Record<string, string>> = [{ eq: '2021-13-01' }, { lt: 'yesterday' }, { gt: '31-12-2021' }, { limit: '-1' }, { limit: 'ten' }]
    for (const params of bad) {
      const err = await run(search, 'x', params, store).then(() => undefined, (e: unknown) => e)
      expect(isPmzError(err, 'ERR_BAD_REQUEST'), JSON.stringify(params)).toBe(true)
    }
    await search.stop?.()
  })

  it('takes a blank parameter as absent, as Python\'s parse_qs did for Pulzar (a form sent with empty fields, issue 20)', async () => {
    const { store, clock } = await setup()
    await put(store, '/forms/a.txt')
    clock.advance(86_400_000)
    await put(store, '/forms/b.txt')
    const search = createSearch({ store, clock, log })
    await search.start?.()
    const blank = async (params: Record<string, string[]>): Promise<unknown> => {
      const ctx: ExtensionContext = { store, log, signal: new AbortController().signal, method: 'GET', baseUrl: BASE }
      return (await search.handle(['forms'], params, undefined, ctx) as Array<{ key: string }>).map(h => h.key)
    }
    expect(await blank({ eq: [''], lt: [''], gt: [''], limit: [''] })).toEqual(['/forms/a.txt', '/forms/b.txt'])
    // `params[name][0]` in Pulzar is the first value parse_qs kept: the first one that is not blank.
    expect(await blank({ limit: ['', '1'] })).toEqual(['/forms/a.txt'])
    await search.stop?.()
  })
})
