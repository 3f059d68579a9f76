import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import { localDay } from '../../../src/extensions/search/dates.js'
import { KeyIndex, type IndexedKey } from '../../../src/extensions/search/key-index.js'

const DAY = 86_400_000
const at = (y: number, m: number, d: number, h = 12): number => new Date(y, m - 1, d, h).getTime()

/** What a query must return, computed the slow, obvious way. */
function expected (items: Map<string, IndexedKey>, text: string, from: number, to: number, now: number, limit = Infinity): string[] {
  return [...items.values()]
    .filter(i => i.key.includes(text) && localDay(i.created) >= from && localDay(i.created) <= to && (i.expires === null || i.expires > now))
    .map(i => i.key).sort().slice(0, limit)
}

describe('KeyIndex', () => {
  it('answers text, date and limit queries in key order', () => {
    const index = new KeyIndex()
    index.upsert({ key: '/b/report.txt', created: at(2021, 3, 1), expires: null })
    index.upsert({ key: '/a/report.bin', created: at(2021, 3, 15), expires: null })
    index.upsert({ key: '/c/photo.png', created: at(2021, 6, 30), expires: null })
    const now = at(2022, 1, 1)
    expect(index.query({ text: 'report', now })).toEqual(['/a/report.bin', '/b/report.txt'])
    expect(index.query({ text: '', now, limit: 2 })).toEqual(['/a/report.bin', '/b/report.txt'])
    expect(index.query({ text: '', now, range: { from: localDay(at(2021, 3, 15)) } })).toEqual(['/a/report.bin', '/c/photo.png'])
    expect(index.query({ text: '', now, range: { to: localDay(at(2021, 3, 15)) } })).toEqual(['/a/report.bin', '/b/report.txt'])
    expect(index.query({ text: 'o', now, range: { from: localDay(at(2021, 6, 30)), to: localDay(at(2021, 6, 30)) } })).toEqual(['/c/photo.png'])
    expect(index.query({ text: 'Report', now })).toEqual([]) // case-sensitive, as Pulzar
    expect(index.query({ text: '', now, limit: 0 })).toEqual([])
  })

  it('follows updates and removals, and leaves out expired keys', () => {
    const index = new KeyIndex()
    const now = at(2021, 3, 10)
    index.upsert({ key: '/k', created: at(2021, 3, 1), expires: null })
    index.upsert({ key: '/k', created: at(2021, 3, 5), expires: null }) // rewritten later
    expect(index.size).toBe(1)
    expect(index.query({ text: '', now, range: { from: localDay(at(2021, 3, 1)), to: localDay(at(2021, 3, 1)) } })).toEqual([])
    expect(index.query({ text: '', now, range: { from: localDay(at(2021, 3, 5)), to: localDay(at(2021, 3, 5)) } })).toEqual(['/k'])
    index.upsert({ key: '/tmp', created: at(2021, 3, 1), expires: at(2021, 3, 2) })
    expect(index.query({ text: '', now })).toEqual(['/k'])
    expect(index.query({ text: '', now: at(2021, 3, 1, 13) })).toEqual(['/k', '/tmp'])
    index.remove('/k')
    index.remove('/never-there')
    expect(index.query({ text: '', now: at(2021, 3, 1, 13) })).toEqual(['/tmp'])
    expect(index.size).toBe(1)
  })

  it('agrees with a plain filter on random keys, dates and queries', () => {
    const rnd = seededRandom(42)
    const index = new KeyIndex()
    const items = new Map<string, IndexedKey>()
    const start = at(2021, 1, 1)
    const words = ['alpha', 'beta', 'gamma', 'delta']
    for (let i = 0; i < 3000; i++) {
      const key = `/${words[Math.floor(rnd() * 4)]}/${Math.floor(rnd() * 500)}.${rnd() < 0.5 ? 'txt' : 'bin'}`
      const created = start + Math.floor(rnd() * 60) * DAY + Math.floor(rnd() * DAY)
      const item = { key, created, expires: rnd() < 0.1 ? created + 5 * DAY : null }
      if (rnd() < 0.15) {
        index.remove(key)
        items.delete(key)
      } else {
        index.upsert(item)
        items.set(key, item)
      }
      // Queries between writes too: the sorted list is rebuilt lazily after changes.
      if (i % 250 === 0) expect(index.query({ text: '', now: start })).toEqual(expected(items, '', -Infinity, Infinity, start, undefined))
    }
    expect(index.size).toBe(items.size)
    const now = start + 30 * DAY
    for (let q = 0; q < 300; q++) {
      const text = ['', 'alpha', 'ta/', '.txt', '1', 'zzz'][Math.floor(rnd() * 6)]
      const a = localDay(start) + Math.floor(rnd() * 70) - 5
      const width = rnd() < 0.5 ? 0 : Math.floor(rnd() * 40)
      const from = rnd() < 0.2 ? -Infinity : a
      const to = rnd() < 0.2 ? Infinity : a + width
      const limit = rnd() < 0.3 ? Math.floor(rnd() * 20) : undefined
      const range = { from: from === -Infinity ? undefined : from, to: to === Infinity ? undefined : to }
      expect(index.query({ text, range, limit, now }), JSON.stringify({ text, range, limit })).toEqual(expected(items, text, from, to, now, limit))
    }
  })

  it('keeps agreeing with a plain filter across merges of pending keys and mass removals', () => {
    const rnd = seededRandom(7)
    const index = new KeyIndex()
    const items = new Map<string, IndexedKey>()
    const start = at(2021, 1, 1)
    const now = start + 20 * DAY
    const check = (): void => {
      expect(index.size).toBe(items.size)
      expect(index.query({ text: '', now })).toEqual(expected(items, '', -Infinity, Infinity, now))
      const day = localDay(start) + Math.floor(rnd() * 30)
      expect(index.query({ text: '7', now, range: { from: day, to: day + 3 }, limit: 50 })).toEqual(expected(items, '7', day, day + 3, now, 50))
    }
    // In key order first (appended), then random keys, rewrites and removals: well past the pending threshold, many merges.
    for (let i = 0; i < 5000; i++) {
      const item = { key: `/a/${String(i).padStart(5, '0')}`, created: start + (i % 30) * DAY, expires: null }
      index.upsert(item)
      items.set(item.key, item)
    }
    check()
    for (let i = 0; i < 60_000; i++) {
      const key = rnd() < 0.5 ? `/a/${String(Math.floor(rnd() * 20_000)).padStart(5, '0')}` : `/b/${Math.floor(rnd() * 20_000)}`
      if (rnd() < 0.2) {
        index.remove(key)
        items.delete(key)
      } else {
        const created = start + Math.floor(rnd() * 30) * DAY
        const item = { key, created, expires: rnd() < 0.1 ? created + 10 * DAY : null }
        index.upsert(item)
        items.set(key, item)
      }
      if (i % 7000 === 0) check()
    }
    check()
    // Most keys removed: the removal flags outnumber the live keys and are folded away.
    for (const key of [...items.keys()]) {
      if (rnd() < 0.9) {
        index.remove(key)
        items.delete(key)
      }
    }
    check()
    for (const key of [...items.keys()]) index.remove(key)
    items.clear()
    check()
    index.upsert({ key: '/again', created: start, expires: null })
    expect(index.query({ text: 'ag', now })).toEqual(['/again'])
  })

  it('holds a key in a few dozen bytes off the JS heap', () => {
    const index = new KeyIndex()
    for (let i = 0; i < 50_000; i++) index.upsert({ key: `/m/k${i}`, created: at(2021, 1, 1), expires: null })
    // Key bytes (7-9), offset, day, expiry and flag (17), capacity headroom.
    expect(index.packedBytes / index.size).toBeLessThan(64)
  })

  it('builds and answers fast on 100,000 keys', () => {
    const index = new KeyIndex()
    const start = at(2021, 1, 1)
    const t0 = performance.now()
    for (let i = 0; i < 100_000; i++) {
      index.upsert({ key: `/data/${String(i).padStart(6, '0')}/file.bin`, created: start + (i % 365) * DAY, expires: null })
    }
    const built = performance.now() - t0
    const t1 = performance.now()
    const hits = index.query({ text: '/0424', now: start + 400 * DAY })
    const oneDay = index.query({ text: '', range: { from: localDay(start + 10 * DAY), to: localDay(start + 10 * DAY) }, now: start + 400 * DAY })
    const scanned = index.query({ text: 'file', limit: 100, now: start + 400 * DAY })
    const queried = performance.now() - t1
    expect(hits).toHaveLength(100)
    expect(oneDay.length).toBeGreaterThanOrEqual(273)
    expect(scanned).toHaveLength(100)
    // Generous bounds for a shared machine; the bench prints the real figures.
    expect(built).toBeLessThan(3000)
    expect(queried).toBeLessThan(500)
  })
})
