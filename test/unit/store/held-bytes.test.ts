import { describe, expect, it } from 'vitest'
import { HeldBytes } from '../../../src/store/index.js'
import type { ReplicaEntry } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

function entry (key: string, size: number, deleted = false): ReplicaEntry {
  return { key, version: '1', deleted, deletedAt: deleted ? 1 : null, size, sha256: '', contentType: 'x', created: 1, expires: null }
}

/** A store of `records` in key order that counts the batches it was asked for. */
function fakeStore (records: ReplicaEntry[]): { entries: (after: string | undefined, limit: number) => Promise<ReplicaEntry[]>, batches: number } {
  const s = {
    batches: 0,
    async entries (after: string | undefined, limit: number) {
      s.batches++
      return records.filter(r => after === undefined || r.key > after).slice(0, limit)
    }
  }
  return s
}

describe('HeldBytes', () => {
  it('sums the sizes of the records in batches, tombstones counting 0', async () => {
    const records = Array.from({ length: 25 }, (_, i) => entry(`/k${String(i).padStart(2, '0')}`, i, i % 5 === 0))
    const store = fakeStore(records)
    const held = new HeldBytes({ store, clock: new ManualClock() }, { batch: 10 })
    const expected = records.filter(r => !r.deleted).reduce((n, r) => n + r.size, 0)
    expect(await held.read()).toBe(expected)
    expect(store.batches).toBe(3)
  })

  it('serves a count younger than maxAgeMs without walking again; concurrent reads share one walk', async () => {
    const records = [entry('/a', 100)]
    const store = fakeStore(records)
    const clock = new ManualClock()
    const held = new HeldBytes({ store, clock }, { maxAgeMs: 60_000 })
    expect(await Promise.all([held.read(), held.read()])).toEqual([100, 100])
    expect(store.batches).toBe(1)
    records.push(entry('/b', 50))
    clock.advance(59_000)
    expect(await held.read()).toBe(100)
    clock.advance(1_000)
    expect(await held.read()).toBe(150)
    expect(store.batches).toBe(2)
  })
})
