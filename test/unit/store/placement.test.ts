import { describe, expect, it } from 'vitest'
import { PARTITIONS } from '../../../src/ring/index.js'
import { Placement } from '../../../src/store/replication/placement.js'
import { View } from '../../helpers/replica-cluster.js'
import { asKey } from '../../../src/store/index.js'

const KEYS = Array.from({ length: 2000 }, (_, i) => `/p/${i}`)

/** A view of volume peers `ids`, and the placement of `self` over it (N replicas, W write quorum). */
function setup (ids: string[], self = ids[0], replicas = 3, writeQuorum = 2): { view: View, placement: Placement } {
  const view = new View()
  for (const id of ids) view.add(id)
  const placement = new Placement(view.membership(self), replicas, writeQuorum)
  placement.refresh()
  return { view, placement }
}

/** Every partition's preference list. */
function lists (p: Placement): string[][] {
  return Array.from({ length: PARTITIONS }, (_, i) => p.partitionList(i))
}

describe('Placement', () => {
  it('gives every key N distinct volume peers, owner first, the same list for targets', () => {
    const { placement } = setup(['a', 'b', 'c', 'd', 'e'])
    const owners = new Set<string>()
    for (const key of KEYS) {
      const list = placement.preferenceList(asKey(key))
      expect(list).toHaveLength(3)
      expect(new Set(list).size).toBe(3)
      for (const p of list) expect(['a', 'b', 'c', 'd', 'e']).toContain(p)
      expect(placement.targets(asKey(key)).map(t => t.peerId)).toEqual(list)
      owners.add(list[0])
    }
    expect([...owners].sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('caps N by the volume peers and W by N; peers without the volume role or that left do not count', () => {
    const { view, placement } = setup(['a', 'b'], 'a', 3, 2)
    view.add('w', ['worker'])
    view.add('gone')
    view.set('gone', 'left')
    placement.refresh()
    expect(placement.peerIds()).toEqual(['a', 'b'])
    expect(placement.n()).toBe(2)
    expect(placement.w()).toBe(2)
    expect(placement.preferenceList(asKey('/k')).sort()).toEqual(['a', 'b'])

    const one = setup(['a'], 'a', 3, 2).placement
    expect(one.n()).toBe(1)
    expect(one.w()).toBe(1)

    const five = setup(['a', 'b', 'c', 'd', 'e'], 'a', 3, 2).placement
    expect(five.n()).toBe(3)
    expect(five.w()).toBe(2)
  })

  it('keeps a dead peer on the ring but marks it not alive in targets; a suspect one counts as alive', () => {
    const { view, placement } = setup(['a', 'b', 'c'])
    const before = placement.fingerprint()
    view.set('b', 'dead')
    view.set('c', 'suspect')
    placement.refresh()
    expect(placement.fingerprint()).toBe(before)
    const targets = placement.targets(asKey('/k'))
    expect(targets.map(t => t.peerId).sort()).toEqual(['a', 'b', 'c'])
    const by = Object.fromEntries(targets.map(t => [t.peerId, t]))
    expect(by.a).toEqual({ peerId: 'a', address: '', isSelf: true, isAlive: true, http: '' })
    expect(by.b).toEqual({ peerId: 'b', address: 'b:1', isSelf: false, isAlive: false, http: 'http://b' })
    expect(by.c).toEqual({ peerId: 'c', address: 'c:1', isSelf: false, isAlive: true, http: 'http://c' })
  })

  it('reads self first, then the live replicas by preference, never a dead one', () => {
    const { view, placement } = setup(['a', 'b', 'c', 'd', 'e'])
    // A key of which self is the last replica, another of which it is none.
    const last = KEYS.find(k => placement.preferenceList(asKey(k))[2] === 'a') as string
    const notMine = KEYS.find(k => !placement.preferenceList(asKey(k)).includes('a')) as string
    const [p0, p1] = placement.preferenceList(asKey(last))
    expect(placement.readOrder(asKey(last)).map(t => t.peerId)).toEqual(['a', p0, p1])
    view.set(p0, 'dead')
    expect(placement.readOrder(asKey(last)).map(t => t.peerId)).toEqual(['a', p1])
    expect(placement.readOrder(asKey(notMine)).map(t => t.peerId)).toEqual(placement.preferenceList(asKey(notMine)).filter(p => p !== p0))
    // Given targets, it keeps their order (self still first).
    view.set(p0, 'alive')
    const given = placement.targets(asKey(last)).reverse()
    expect(placement.readOrder(asKey(last), given).map(t => t.peerId)).toEqual(['a', p1, p0])
  })

  it('moves about 1/n of the partitions, all to the newcomer, when an unrelated peer joins; none when a non-volume peer does', () => {
    const { view, placement } = setup(['a', 'b', 'c', 'd', 'e'])
    const before = lists(placement)
    const fingerprint = placement.fingerprint()
    view.add('worker', ['worker'])
    placement.refresh()
    expect(placement.fingerprint()).toBe(fingerprint)

    // A newcomer that sorts among the others, not after them.
    view.add('c2')
    placement.refresh()
    expect(placement.fingerprint()).not.toBe(fingerprint)
    const after = lists(placement)
    let ownerMoved = 0
    let changed = 0
    for (let i = 0; i < PARTITIONS; i++) {
      const was = before[i]
      const now = after[i]
      if (now[0] !== was[0]) {
        ownerMoved++
        expect(now[0]).toBe('c2')
      }
      if (now.includes('c2')) {
        changed++
        // The newcomer is inserted, the others keep their order, the last falls off.
        expect(now.filter(p => p !== 'c2')).toEqual(was.slice(0, 2))
      } else {
        expect(now).toEqual(was)
      }
    }
    expect(ownerMoved / PARTITIONS).toBeGreaterThan(1 / 6 - 0.06)
    expect(ownerMoved / PARTITIONS).toBeLessThan(1 / 6 + 0.06)
    // The newcomer holds a replica of about N/n of the partitions.
    expect(changed / PARTITIONS).toBeGreaterThan(3 / 6 - 0.1)
    expect(changed / PARTITIONS).toBeLessThan(3 / 6 + 0.1)
  })

  it('is the only volume peer (selfOnly) alone or among non-volume peers, not with a second volume peer', () => {
    const { view, placement } = setup(['a'])
    expect(placement.selfOnly()).toBe(true)
    view.add('g', ['gateway'])
    placement.refresh()
    expect(placement.selfOnly()).toBe(true)
    view.add('b')
    placement.refresh()
    expect(placement.selfOnly()).toBe(false)

    // A gateway-only self with one volume peer is not "only self".
    const g = new View()
    g.add('gw', ['gateway'])
    g.add('v')
    const other = new Placement(g.membership('gw'), 3, 2)
    other.refresh()
    expect(other.selfOnly()).toBe(false)
    expect(other.hasSelf()).toBe(false)
    expect(other.targets(asKey('/k'))).toEqual([{ peerId: 'v', address: 'v:1', isSelf: false, isAlive: true, http: 'http://v' }])
  })

  it('keeps remembered peers on the ring until membership knows them, and lists those it does not know yet', () => {
    const { view, placement } = setup(['a'])
    placement.remember(['a', 'b', 'c'])
    expect(placement.selfOnly()).toBe(false)
    expect(placement.peerIds()).toEqual(['a', 'b', 'c'])
    expect(placement.n()).toBe(3)
    expect(placement.unknownRemembered().sort()).toEqual(['b', 'c'])
    // Unknown to membership: on the ring, but not a live target.
    const t = placement.targets(asKey('/k')).find(x => x.peerId === 'b')
    expect(t).toMatchObject({ isAlive: false, address: '' })

    view.add('b')
    placement.refresh()
    expect(placement.unknownRemembered()).toEqual(['c'])
    expect(placement.peerIds()).toEqual(['a', 'b', 'c'])

    // Forgotten: only what membership knows.
    placement.remember([])
    expect(placement.unknownRemembered()).toEqual([])
    expect(placement.peerIds()).toEqual(['a', 'b'])
  })

  it('keeps excluded peers off the ring', () => {
    const { placement } = setup(['a', 'b', 'c', 'd'])
    placement.exclude(new Set(['c']))
    expect(placement.peerIds()).toEqual(['a', 'b', 'd'])
    for (const key of KEYS.slice(0, 200)) expect(placement.preferenceList(asKey(key))).not.toContain('c')
    placement.exclude(new Set())
    expect(placement.peerIds()).toEqual(['a', 'b', 'c', 'd'])
  })

  it('shares: each volume peer\'s fraction of the hash space, summing to 1, exactly the partitions it owns', () => {
    const { placement } = setup(['a', 'b', 'c', 'd'])
    const shares = placement.shares()
    expect(Object.keys(shares).sort()).toEqual(['a', 'b', 'c', 'd'])
    expect(Object.values(shares).reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9)
    const owned: Record<string, number> = {}
    for (let i = 0; i < PARTITIONS; i++) {
      const owner = placement.partitionList(i)[0]
      owned[owner] = (owned[owner] ?? 0) + 1
    }
    for (const [id, share] of Object.entries(shares)) {
      expect(share).toBeGreaterThan(0.15)
      expect(share).toBeLessThan(0.35)
      expect(share).toBeCloseTo(owned[id] / PARTITIONS, 12)
    }
    // The keys follow: the owned fraction of 10,000 keys is within a couple of percent of the share.
    const keys = Array.from({ length: 10_000 }, (_, i) => `/share/${i}`)
    for (const [id, share] of Object.entries(shares)) {
      expect(Math.abs(keys.filter(k => placement.preferenceList(asKey(k))[0] === id).length / keys.length - share)).toBeLessThan(0.03)
    }
  })
})
