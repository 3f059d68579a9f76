import { describe, expect, it } from 'vitest'
import { checkPacketColumns, itemsFromColumns, itemsToColumns, packetsFromColumns, packetsToColumns } from '../../../src/pipelines/columns.js'
import type { Packet } from '../../../src/pipelines/types.js'

const packet = (i: number, extra: Partial<Packet> = {}): Packet => ({ id: `p${i}`, tag: 't', priority: 0, headers: {}, payload: Buffer.from([i, i]), bornAt: 1000 + i, ...extra })

describe('packets as columns', () => {
  it('round-trips every field: bytes as views into one buffer of their own, JSON values, keys, priorities, headers, refs, no payload', () => {
    const message = Buffer.alloc(64, 7) // a payload may be a view into a larger message
    const packets: Packet[] = [
      packet(1, { payload: message.subarray(10, 13) }),
      packet(2, { tag: 'u', key: 'k', priority: 7, headers: { a: 'b' }, payload: { json: [1, 'x'] } }),
      packet(3, { payload: undefined, ref: '/_pipelines/payloads/p3.bin' }),
      packet(4)
    ]
    const c = packetsToColumns(packets)
    expect(c.bytes?.byteLength).toBe(5)
    expect(c.bytes?.buffer.byteLength).toBe(5) // its own buffer: it can be transferred
    const back = packetsFromColumns(c)
    expect(back).toEqual(packets.map(p => ({ ...p, ...(p.payload instanceof Uint8Array ? { payload: Buffer.from(p.payload) } : {}) })))
    expect((back[0].payload as Buffer).buffer).toBe(c.bytes?.buffer)
    expect(Buffer.isBuffer(back[3].payload)).toBe(true)
  })

  it('one tag for all, and no key, header or ref column when no packet has one', () => {
    const c = packetsToColumns([packet(1), packet(2)])
    expect(c.tags).toBe('t')
    expect(c.keys).toBeUndefined()
    expect(c.headers).toBeUndefined()
    expect(c.refs).toBeUndefined()
    expect(packetsToColumns([]).n).toBe(0)
  })

  it('outputs keep an unset priority, key or headers unset', () => {
    const items = [{ tag: 'o', payload: 1 }, { tag: 'o', priority: 3, key: 'k', headers: { h: 'v' }, payload: Buffer.from('ab') }]
    const back = itemsFromColumns(itemsToColumns(items))
    expect(back[0]).toEqual({ tag: 'o', payload: 1 })
    expect(back[1]).toEqual({ tag: 'o', priority: 3, key: 'k', headers: { h: 'v' }, payload: Buffer.from('ab') })
  })

  it('arriving from a peer: every column is checked', () => {
    const good = packetsToColumns([packet(1), packet(2, { payload: 'x' })])
    expect(checkPacketColumns(structuredClone(good)).n).toBe(2)
    const broken: Array<Record<string, unknown>> = [
      { ...good, n: -1 },
      { ...good, ids: ['p1'] },
      { ...good, tags: ['t', 5] },
      { ...good, prios: [0, 12] },
      { ...good, bornAt: [1, 'x'] },
      { ...good, sizes: [2, 5] },
      { ...good, sizes: [2, -7] },
      { ...good, bytes: undefined },
      { ...good, json: [] },
      { ...good, keys: [null, 3] },
      { ...good, headers: [{ a: 1 }, null] },
      { ...good, refs: ['', null] }
    ]
    for (const b of broken) expect(() => checkPacketColumns(b), JSON.stringify(Object.keys(b))).toThrow(/bad/)
    expect(() => checkPacketColumns(null)).toThrow(/bad packets/)
  })
})
