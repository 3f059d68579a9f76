import { describe, expect, it } from 'vitest'
import { childId, pushChunks } from '../../../src/pipelines/packets.js'
import type { Packet } from '../../../src/pipelines/types.js'

describe('an output\'s id', () => {
  it('is the same for the same input, stage and index, on every call: a redelivered packet\'s outputs are recognised', () => {
    expect(childId('peer1-lx3k2-abc-0', 'bench/mid', 0)).toBe(childId('peer1-lx3k2-abc-0', 'bench/mid', 0))
    expect(childId('peer1-lx3k2-abc-0', 'bench/mid', 0)).toMatch(/^[0-9a-z]{28}$/)
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

  it('are split so that no message carries much more than the limit, in order; a packet over it goes alone', () => {
    const ids = (chunks: Packet[][]): string[][] => chunks.map(c => c.map(x => x.id))
    expect(ids(pushChunks([p('a', 300), p('b', 300), p('c', 300)], 1000))).toEqual([['a', 'b'], ['c']])
    expect(ids(pushChunks([p('a', 5000), p('b', 10)], 1000))).toEqual([['a'], ['b']])
    expect(ids(pushChunks([p('a', 10), p('b', 10)], 1000))).toEqual([['a', 'b']])
    expect(pushChunks([], 1000)).toEqual([])
    // 256 packets of 64 KB (a credit window's worth) would be a 16 MB frame: the transport takes at most 4 MB.
    const big = pushChunks(Array.from({ length: 256 }, (_, i) => p(String(i), 64 * 1024)), 1024 * 1024)
    expect(big.every(c => c.length <= 16)).toBe(true)
    expect(big.flat()).toHaveLength(256)
  })
})
