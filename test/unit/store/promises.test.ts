import { describe, expect, it } from 'vitest'
import { encodeHlc, type HlcTimestamp } from '../../../src/common/hlc.js'
import { HIGH_WATER_STEP_MS, Promises } from '../../../src/store/promises.js'
import { asKey } from '../../../src/store/index.js'

const at = (wall: number, logical = 0, peer = 'p'): HlcTimestamp => encodeHlc({ wall, logical, peerId: peer })

function make (floor: HlcTimestamp = '', cap?: number): { promises: Promises, persisted: HlcTimestamp[], versions: Map<string, HlcTimestamp> } {
  const persisted: HlcTimestamp[] = []
  const versions = new Map<string, HlcTimestamp>()
  const promises = new Promises({
    persist: async mark => { await Promise.resolve(); persisted.push(mark) },
    versionOf: key => versions.get(key)
  }, { floor, cap })
  return { promises, persisted, versions }
}

describe('Promises', () => {
  it('makes the high-water mark durable once per step of ballot time, shared by concurrent covers', async () => {
    const { promises, persisted } = make()
    expect(promises.covers(at(1000))).toBe(false)
    await Promise.all([at(1000), at(1000, 1), at(1500)].map(async b => { await promises.cover(b) }))
    expect(persisted).toEqual([at(1000 + HIGH_WATER_STEP_MS, 0, '')])
    for (let wall = 1000; wall < 1000 + HIGH_WATER_STEP_MS; wall += 100) {
      await promises.cover(at(wall))
      promises.promise(asKey(`/k${wall}`), at(wall))
    }
    expect(persisted).toHaveLength(1)
    await promises.cover(at(1000 + HIGH_WATER_STEP_MS))
    expect(persisted).toHaveLength(2)
  })

  it('refuses to promise a ballot the durable mark does not cover', () => {
    const { promises } = make()
    expect(() => { promises.promise(asKey('/k'), at(5)) }).toThrow(/high-water/)
  })

  it('starts from the floor: every key counts as promised up to it', () => {
    const { promises } = make(at(7000, 0, ''))
    expect(promises.of(asKey('/never-seen'))).toBe(at(7000, 0, ''))
    expect(promises.covers(at(6999))).toBe(true)
    expect(promises.covers(at(7000))).toBe(false)
    expect(make().promises.of(asKey('/k'))).toBeUndefined()
  })

  it('past its cap drops the promises a newer record made moot, then forgets the oldest by raising the floor', async () => {
    const { promises, versions } = make('', 4)
    await promises.cover(at(100))
    for (let i = 1; i <= 4; i++) promises.promise(asKey(`/k${i}`), at(i))
    versions.set('/k2', at(50)) // written since at a newer version: its promise is moot
    promises.promise(asKey('/k5'), at(5))
    // /k2 went without touching the floor; /k1 and /k3 were the oldest left.
    expect(promises.size).toBe(2)
    expect(promises.of(asKey('/k2'))).toBe(at(3))
    expect(promises.of(asKey('/k1'))).toBe(at(3))
    expect(promises.of(asKey('/k4'))).toBe(at(4))
    expect(promises.of(asKey('/k5'))).toBe(at(5))
  })

  it('forgets promises older than a time by raising the floor to them', async () => {
    const { promises } = make()
    await promises.cover(at(3000))
    promises.promise(asKey('/old'), at(1000))
    promises.promise(asKey('/new'), at(3000))
    promises.forgetOlderThan(2000)
    expect(promises.size).toBe(1)
    expect(promises.of(asKey('/old'))).toBe(at(1000))
    expect(promises.of(asKey('/other'))).toBe(at(1000))
    expect(promises.of(asKey('/new'))).toBe(at(3000))
  })
})
