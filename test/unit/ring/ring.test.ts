import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { sample, seededRandom } from '../../../src/common/random.js'
import { PARTITION_BITS, VNODES_PER_PEER, createRing, keyHash, type Ring, type RingPeer } from '../../../src/ring/index.js'

const KEYS = Array.from({ length: 10_000 }, (_, i) => `bucket/${i % 97}/file-${i}.bin`)
const ids = (n: number, prefix = 'vol'): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${(i * 7919).toString(16)}`)
const peersOf = (list: string[], weight?: number): RingPeer[] => list.map(peerId => ({ peerId, weight }))

/** Keys owned by each peer of the ring. */
function ownership (ring: Ring, keys: string[] = KEYS): Map<string, number> {
  const counts = new Map<string, number>(ring.peers().map(p => [p.peerId, 0]))
  for (const key of keys) {
    const owner = ring.owner(key) as string
    counts.set(owner, (counts.get(owner) as number) + 1)
  }
  return counts
}

function expectBadRequest (fn: () => unknown): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  expect(isPmzError(caught, 'ERR_BAD_REQUEST')).toBe(true)
}

describe('ring', () => {
  it('answers nothing on an empty ring', () => {
    const ring = createRing()
    expect(ring.size).toBe(0)
    expect(ring.peers()).toEqual([])
    expect(ring.preferenceList('a', 3)).toEqual([])
    expect(ring.owner('a')).toBeUndefined()
    expect(createRing({ peers: [] }).fingerprint).toBe(ring.fingerprint)
  })

  it('gives n distinct peers, capped by the number of peers', () => {
    const ring = createRing({ peers: peersOf(ids(5)) })
    for (const key of KEYS.slice(0, 2_000)) {
      const list = ring.preferenceList(key, 3)
      expect(list).toHaveLength(3)
      expect(new Set(list).size).toBe(3)
      expect(list[0]).toBe(ring.owner(key))
      // A longer list extends a shorter one: replica i is the same whatever n is asked.
      expect(ring.preferenceList(key, 5).slice(0, 3)).toEqual(list)
    }
    expect(ring.preferenceList('k', 9)).toHaveLength(5)
    expect(new Set(ring.preferenceList('k', 9)).size).toBe(5)
    expect(ring.preferenceList('k', 0)).toEqual([])
    expect(ring.preferenceList('k', -1)).toEqual([])
    expect(createRing({ peers: [{ peerId: 'solo' }] }).preferenceList('k', 3)).toEqual(['solo'])
  })

  it('places keys the same whatever order the peers were given in', () => {
    const list = peersOf(ids(8))
    const reference = createRing({ peers: list })
    const random = seededRandom(7)
    for (let round = 0; round < 5; round++) {
      const ring = createRing({ peers: sample(list, list.length, random) })
      expect(ring.fingerprint).toBe(reference.fingerprint)
      for (const key of KEYS.slice(0, 2_000)) expect(ring.preferenceList(key, 3)).toEqual(reference.preferenceList(key, 3))
    }
    // Built incrementally, through withPeers, it is the same ring too.
    let grown = createRing()
    for (const p of [...list].reverse()) grown = grown.withPeers([...grown.peers(), p])
    expect(grown.fingerprint).toBe(reference.fingerprint)
  })

  it('keeps the placement of a known ring (every peer version must agree)', () => {
    const ring = createRing({ peers: peersOf(['a', 'b', 'c', 'd', 'e']) })
    // Pinned: a change here reshuffles every stored key of every cluster.
    expect(['k1', 'k2', 'photos/cat.jpg'].map(k => ring.preferenceList(k, 3))).toMatchInlineSnapshot(`
      [
        [
          "e",
          "a",
          "c",
        ],
        [
          "c",
          "e",
          "a",
        ],
        [
          "a",
          "b",
          "d",
        ],
      ]
    `)
    expect(ring.fingerprint).toMatchInlineSnapshot(`"7b84d81dc8645b00"`)
  })

  it('walks the ring as a plain ketama continuum would', () => {
    // Reference: md5 of `peerId-i` for each vnode i, four little-endian 32-bit points each;
    // a key belongs to the first point at or after the first position of its partition
    // (the top PARTITION_BITS of its hash), wrapping around.
    const peers = [...peersOf(ids(4), 1), { peerId: 'heavy', weight: 3 }]
    const ring = createRing({ peers })
    const points: Array<{ at: number, peerId: string }> = []
    for (const { peerId } of peers) {
      for (let i = 0; i < ring.vnodes(peerId); i++) {
        const d = createHash('md5').update(`${peerId}-${i}`).digest()
        for (let j = 0; j < 4; j++) points.push({ at: d.readUInt32LE(j * 4), peerId })
      }
    }
    points.sort((a, b) => a.at - b.at)
    for (const key of KEYS.slice(0, 1_000)) {
      const h = (keyHash(key) >>> (32 - PARTITION_BITS)) * 2 ** (32 - PARTITION_BITS)
      const start = points.findIndex(p => p.at >= h)
      const list: string[] = []
      for (let k = 0; list.length < 3; k++) {
        const p = points[((start < 0 ? 0 : start) + k) % points.length]
        if (!list.includes(p.peerId)) list.push(p.peerId)
      }
      expect(ring.preferenceList(key, 3)).toEqual(list)
    }
  })

  it('moves about 1/6 of the keys, all onto the new peer, when a 6th joins 5', () => {
    const five = createRing({ peers: peersOf(ids(5)) })
    const six = five.withPeers([...five.peers(), { peerId: 'newcomer' }])
    let moved = 0
    for (const key of KEYS) {
      const before = five.preferenceList(key, 3)
      const after = six.preferenceList(key, 3)
      if (before[0] !== after[0]) {
        moved++
        expect(after[0]).toBe('newcomer')
      }
      // The other peers keep their order: the newcomer is inserted, the last replica falls off.
      expect(before.slice(0, after.filter(p => p !== 'newcomer').length)).toEqual(after.filter(p => p !== 'newcomer'))
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.10)
    expect(moved / KEYS.length).toBeLessThan(0.25)
  })

  it('moves only the keys of a peer that leaves', () => {
    const list = ids(6)
    const gone = list[2]
    const before = createRing({ peers: peersOf(list) })
    const after = before.withPeers(before.peers().filter(p => p.peerId !== gone))
    expect(after.has(gone)).toBe(false)
    const owned = ownership(before).get(gone) as number
    let moved = 0
    for (const key of KEYS) {
      const was = before.preferenceList(key, 3)
      const now = after.preferenceList(key, 3)
      if (was[0] !== now[0]) {
        moved++
        expect(was[0]).toBe(gone)
      }
      if (!was.includes(gone)) expect(now).toEqual(was)
      // Survivors keep their order; a new replica is appended at the end.
      expect(now.slice(0, was.filter(p => p !== gone).length)).toEqual(was.filter(p => p !== gone))
    }
    expect(moved).toBe(owned)
  })

  it('spreads keys evenly over peers of equal weight', () => {
    for (const n of [5, 10]) {
      const ring = createRing({ peers: peersOf(ids(n, `host${n}`)) })
      const mean = KEYS.length / n
      for (const [peerId, count] of ownership(ring)) {
        expect(ring.vnodes(peerId)).toBe(VNODES_PER_PEER)
        expect(count).toBeGreaterThan(mean * 0.75)
        expect(count).toBeLessThan(mean * 1.25)
      }
    }
  })

  it('gives a peer of twice the weight about twice the keys', () => {
    const ring = createRing({ peers: [...peersOf(ids(4), 1), { peerId: 'big', weight: 2 }] })
    const counts = ownership(ring)
    const big = counts.get('big') as number
    const others = ([...counts].filter(([p]) => p !== 'big').reduce((s, [, c]) => s + c, 0)) / 4
    expect(big / others).toBeGreaterThan(1.6)
    expect(big / others).toBeLessThan(2.4)
    // Only ratios matter: capacities in bytes make the same ring.
    const bytes = createRing({ peers: [...peersOf(ids(4), 500e9), { peerId: 'big', weight: 1e12 }] })
    expect(bytes.fingerprint).toBe(ring.fingerprint)
  })

  it('keeps a peer of tiny weight on the ring', () => {
    const ring = createRing({ peers: [...peersOf(ids(3), 1e12), { peerId: 'tiny', weight: 1 }] })
    expect(ring.vnodes('tiny')).toBe(1)
    expect(ring.has('tiny')).toBe(true)
    expect(KEYS.some(k => ring.preferenceList(k, 4).includes('tiny'))).toBe(true)
  })

  it('leaves the old ring as it was when making a new one', () => {
    const ring = createRing({ peers: peersOf(ids(3)) })
    const before = KEYS.slice(0, 500).map(k => ring.preferenceList(k, 2))
    const next = ring.withPeers(peersOf(ids(4)))
    expect(next.size).toBe(4)
    expect(ring.size).toBe(3)
    expect(KEYS.slice(0, 500).map(k => ring.preferenceList(k, 2))).toEqual(before)
  })

  it('rejects a duplicate peer, a bad weight and a bad vnode count', () => {
    expectBadRequest(() => createRing({ peers: [{ peerId: 'a' }, { peerId: 'a', weight: 2 }] }))
    expectBadRequest(() => createRing({ peers: [{ peerId: '' }] }))
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expectBadRequest(() => createRing({ peers: [{ peerId: 'a', weight }] }))
    for (const vnodesPerPeer of [0, 1.5]) expectBadRequest(() => createRing({ peers: [{ peerId: 'a' }], vnodesPerPeer }))
  })

  it('shares: each peer\'s fraction of the hash space, summing to 1, matching the keys it owns', () => {
    expect(createRing().shares()).toEqual({})
    expect(createRing({ peers: peersOf(['solo']) }).shares()).toEqual({ solo: 1 })
    const ring = createRing({ peers: [{ peerId: 'a' }, { peerId: 'b' }, { peerId: 'c', weight: 2 }] })
    const shares = ring.shares()
    expect(Object.keys(shares).sort()).toEqual(['a', 'b', 'c'])
    expect(Object.values(shares).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9)
    // 10,000 keys: the owned fraction is within a couple of percent of the share.
    const owned = ownership(ring)
    for (const [peerId, share] of Object.entries(shares)) expect(Math.abs((owned.get(peerId) as number) / KEYS.length - share), peerId).toBeLessThan(0.02)
    expect(shares.c).toBeGreaterThan(0.4)
  })
})

describe('keyHash', () => {
  it('is the unsigned 32-bit ring position hashring gives the key', () => {
    const HashRing = createRequire(import.meta.url)('hashring') as new (servers: string[]) => { hashValue(key: string): number }
    const hr = new HashRing(['x'])
    for (const key of KEYS.slice(0, 1_000)) {
      const h = keyHash(key)
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true)
      expect(h).toBe(hr.hashValue(key))
    }
    expect(keyHash('k1')).toMatchInlineSnapshot(`2058434486`)
  })
})
