import { describe, expect, it } from 'vitest'
import { PUSH_MAX_BYTES } from '../../../src/pipelines/constants.js'
import { buildGraph } from '../../../src/pipelines/core/graph-rules.js'
import { Outbox } from '../../../src/pipelines/core/outbox.js'
import { childId, wireBytes } from '../../../src/pipelines/packets.js'
import type { Packet } from '../../../src/pipelines/types.js'
import { spec } from './fixtures.js'

describe('an output\'s id', () => {
  it('is the same for the same input, stage and index, on every call: a redelivered packet\'s outputs are recognised', () => {
    expect(childId('peer1-lx3k2-abc-0', 'bench/mid', 0)).toBe(childId('peer1-lx3k2-abc-0', 'bench/mid', 0))
    expect(childId('peer1-lx3k2-abc-0', 'bench/mid', 0)).toMatch(/^[0-9a-z]{28}$/)
  })

  it('is four 32-bit lanes in base 36, 7 digits each', () => {
    // The lanes of a known id, written the slow way: the digits are made by hand (no string per lane), the same.
    const id = childId('peer1-lx3k2-abc-0', 'bench/mid', 0)
    const lanes = [0, 7, 14, 21].map(at => parseInt(id.slice(at, at + 7), 36))
    expect(lanes.map(h => h.toString(36).padStart(7, '0')).join('')).toBe(id)
    expect(lanes.every(h => h >= 0 && h < 2 ** 32)).toBe(true)
    expect(childId('', '', 0)).toMatch(/^[0-9a-z]{28}$/)
  })

  it('differs with the input, the stage or the index, without collisions over many packets', () => {
    const ids = new Set<string>()
    for (let i = 0; i < 50_000; i++) {
      ids.add(childId(`peer1-lx3k2-abc-${i.toString(36)}`, 'a/b', 0))
      ids.add(childId(`peer1-lx3k2-abc-${i.toString(36)}`, 'a/b', 1))
    }
    ids.add(childId('x', 'a/b', 0)).add(childId('x', 'a/c', 0)).add(childId('x\u0000a', 'b', 0))
    expect(ids.size).toBe(100_003)
  })
})

describe('the packets of one push', () => {
  const p = (id: string, bytes: number): Packet => ({ id, tag: 't', priority: 0, headers: {}, payload: Buffer.alloc(bytes), bornAt: 0 })

  it('are cut into batches so that no message carries much more than PUSH_MAX_BYTES, in order; a packet over it goes alone', () => {
    const o = new Outbox({ window: 1_000, ackTimeoutMs: 1_000, nackRetryMs: 100, batchBytes: { max: PUSH_MAX_BYTES, of: wireBytes } })
    o.setGraph(buildGraph([spec('s', ['t'], ['p1'])]))
    // 256 packets of 64 KB (a credit window's worth) would be a 16 MB frame: the transport takes at most 4 MB.
    o.submit([...Array.from({ length: 256 }, (_, i) => p(String(i), 64 * 1024)), p('big', 2 * PUSH_MAX_BYTES), p('last', 10)], {}, 0)
    const batches = o.flush(0, () => true).sends.map(s => s.packets.map(x => x.id))
    expect(batches.slice(0, -2).every(b => b.length <= 16)).toBe(true)
    expect(batches.slice(-2)).toEqual([['big'], ['last']])
    expect(batches.flat()).toEqual([...Array.from({ length: 256 }, (_, i) => String(i)), 'big', 'last'])
  })
})
