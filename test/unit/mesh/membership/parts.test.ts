import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../../src/common/random.js'
import { BroadcastQueue } from '../../../../src/mesh/membership/broadcast-queue.js'
import { MemberTable } from '../../../../src/mesh/membership/member-table.js'
import { parseSwimMessage, type WireMember } from '../../../../src/mesh/membership/messages.js'
import type { MemberRecord } from '../../../../src/mesh/membership/rules.js'
import type { Message } from '../../../../src/mesh/transport/index.js'

const alive = (peerId: string, incarnation = 0): WireMember =>
  ({ peerId, address: `${peerId}:1`, state: 'alive', incarnation, meta: { http: '', roles: [] } })

const record = (peerId: string, state: MemberRecord['state'] = 'alive'): MemberRecord =>
  ({ peerId, address: `${peerId}:1`, state, incarnation: 0, meta: { http: '', roles: [] }, lastHeard: 0, changedAt: 0 })

describe('broadcast queue', () => {
  it('sends the least transmitted updates first, newest first among them, each at most `limit` times', () => {
    const q = new BroadcastQueue()
    q.enqueue(alive('a'))
    q.enqueue(alive('b'))
    expect(q.take(1, 3).map(u => u.peerId)).toEqual(['b'])
    q.enqueue(alive('c'))
    expect(q.take(2, 3).map(u => u.peerId)).toEqual(['c', 'a'])
    // Every update has gone out once or twice; two more messages use up the limit of 3.
    expect(q.take(10, 3).map(u => u.peerId).sort()).toEqual(['a', 'b', 'c'])
    expect(q.take(10, 3).map(u => u.peerId).sort()).toEqual(['a', 'b', 'c'])
    expect(q.size).toBe(0)
    expect(q.take(10, 3)).toEqual([])
  })

  it('keeps one update per member: a newer one replaces the older and starts afresh', () => {
    const q = new BroadcastQueue()
    q.enqueue(alive('a', 1))
    q.take(1, 5)
    q.enqueue(alive('a', 2))
    expect(q.size).toBe(1)
    const sent = [q.take(5, 2), q.take(5, 2), q.take(5, 2)]
    expect(sent.map(s => s.map(u => u.incarnation))).toEqual([[2], [2], []])
  })
})

describe('member table', () => {
  it('probes every live member once per pass, in a new random order each pass', () => {
    const t = new MemberTable(record('self'), seededRandom(3))
    for (const id of ['a', 'b', 'c', 'd']) t.put(record(id))
    t.put(record('x', 'dead'))
    const pass = (): string[] => Array.from({ length: 4 }, () => t.nextProbeTarget()?.peerId ?? '')
    const first = pass()
    const second = pass()
    expect([...first].sort()).toEqual(['a', 'b', 'c', 'd'])
    expect([...second].sort()).toEqual(['a', 'b', 'c', 'd'])
    expect(t.live).toBe(5)
    expect([...t.gone]).toEqual(['x'])
  })

  it('picks distinct members that pass the filter, never itself', () => {
    const t = new MemberTable(record('self'), seededRandom(5))
    for (let i = 0; i < 50; i++) t.put(record(`p${i}`, i % 2 === 0 ? 'alive' : 'dead'))
    const picked = t.pick(10, r => r.state === 'alive')
    expect(new Set(picked.map(r => r.peerId)).size).toBe(10)
    expect(picked.every(r => r.state === 'alive')).toBe(true)
    expect(t.pick(100, r => r.state === 'alive')).toHaveLength(25)
    t.delete('p0')
    expect(t.get('p0')).toBeUndefined()
    expect(t.live).toBe(25)
  })
})

describe('wire messages', () => {
  const ok = { type: 'swim.ping', v: 1, cluster: 'pmz', seq: 4, target: 'b', updates: [alive('a')] }
  const parse = (m: Record<string, unknown>): ReturnType<typeof parseSwimMessage> => parseSwimMessage(m as Message, 'pmz')

  it('accepts well-formed messages of its cluster', () => {
    expect(parse(ok).ok).toBe(true)
    expect(parse({ type: 'swim.sync', v: 1, cluster: 'pmz', join: true, members: [alive('a')] }).ok).toBe(true)
  })

  it('refuses another version, and tells another cluster apart from garbage', () => {
    expect(parse({ ...ok, v: 2 })).toEqual({ ok: false, foreign: false, reason: 'unsupported version 2' })
    expect(parse({ ...ok, v: undefined }).ok).toBe(false)
    expect(parse({ ...ok, cluster: 'other' })).toEqual({ ok: false, foreign: true, cluster: 'other' })
  })

  it.each([
    ['missing seq', { ...ok, seq: undefined }],
    ['negative seq', { ...ok, seq: -1 }],
    ['target not a string', { ...ok, target: 7 }],
    ['updates not a list', { ...ok, updates: 'x' }],
    ['update without peerId', { ...ok, updates: [{ ...alive('a'), peerId: undefined }] }],
    ['unknown state', { ...ok, updates: [{ ...alive('a'), state: 'zombie' }] }],
    ['fractional incarnation', { ...ok, updates: [{ ...alive('a'), incarnation: 1.5 }] }],
    ['roles not strings', { ...ok, updates: [{ ...alive('a'), meta: { http: '', roles: [1] } }] }],
    ['meta null', { ...ok, updates: [{ ...alive('a'), meta: null }] }],
    ['cluster missing', { ...ok, cluster: undefined }],
    ['unknown type', { ...ok, type: 'swim.hello' }],
    ['ping-req without address', { ...ok, type: 'swim.ping-req', timeoutMs: 50 }],
    ['sync without members', { type: 'swim.sync', v: 1, cluster: 'pmz', join: false }]
  ])('refuses %s', (_name, m) => {
    const r = parse(m)
    expect(r.ok).toBe(false)
    expect(r.ok === false && r.foreign).toBe(false)
  })
})
