import { describe, expect, it } from 'vitest'
import { createRing, diffRings } from '../../../src/ring/index.js'

const KEYS = Array.from({ length: 5_000 }, (_, i) => `k-${i}`)
const five = createRing({ peers: ['a', 'b', 'c', 'd', 'e'].map(peerId => ({ peerId })) })

describe('diffRings', () => {
  it('reports nothing between equal rings', () => {
    expect([...diffRings(five, five.withPeers(five.peers()), KEYS, 3)]).toEqual([])
  })

  it('reports each changed key with the copies to add and to drop', () => {
    const six = five.withPeers([...five.peers(), { peerId: 'f' }])
    const moves = [...diffRings(five, six, KEYS, 3)]
    const changed = KEYS.filter(k => five.preferenceList(k, 3).join() !== six.preferenceList(k, 3).join())
    expect(moves.map(m => m.key)).toEqual(changed)
    for (const m of moves) {
      // A join only ever adds the newcomer and drops one former replica.
      expect(m.added).toEqual(['f'])
      expect(m.removed).toHaveLength(1)
      expect(m.before).toContain(m.removed[0])
      expect(m.ownerChanged).toBe(m.after[0] === 'f')
    }
    // With 3 copies out of 6 peers, about half the keys gain a copy on the newcomer.
    expect(moves.length / KEYS.length).toBeGreaterThan(0.35)
    expect(moves.length / KEYS.length).toBeLessThan(0.65)
  })

  it('walks the keys lazily', () => {
    const six = five.withPeers([...five.peers(), { peerId: 'f' }])
    let read = 0
    function * keys (): Generator<string> { for (const k of KEYS) { read++; yield k } }
    const first = diffRings(five, six, keys(), 3).next()
    expect(first.done).toBe(false)
    expect(read).toBeLessThan(50)
  })
})
