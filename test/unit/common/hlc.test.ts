import { describe, expect, it } from 'vitest'
import { HybridLogicalClock, compareHlc, decodeHlc, encodeHlc } from '../../../src/common/hlc.js'
import { ManualClock } from '../../helpers/manual-clock.js'

describe('HybridLogicalClock', () => {
  it('orders local events even when the wall clock stands still or steps back', () => {
    const clock = new ManualClock(1000)
    const hlc = new HybridLogicalClock('a', clock)
    const t1 = hlc.now()
    const t2 = hlc.now()
    clock.set(500) // the wall clock steps back
    const t3 = hlc.now()
    expect(compareHlc(t1, t2)).toBeLessThan(0)
    expect(compareHlc(t2, t3)).toBeLessThan(0)
    expect(decodeHlc(t3)).toEqual({ wall: 1000, logical: 2, peerId: 'a' })
  })

  it('orders events after a timestamp received from a peer ahead in time', () => {
    const clock = new ManualClock(1000)
    const a = new HybridLogicalClock('a', clock)
    const remote = encodeHlc({ wall: 5000, logical: 7, peerId: 'b' })
    a.update(remote)
    const next = a.now()
    expect(compareHlc(remote, next)).toBeLessThan(0)
    expect(decodeHlc(next)).toMatchObject({ wall: 5000, logical: 9 })
    clock.advance(10_000)
    expect(decodeHlc(a.now())).toEqual({ wall: 11_000, logical: 0, peerId: 'a' })
  })

  it('compares as strings: wall time, then counter, then peer id', () => {
    const ts = [
      encodeHlc({ wall: 2, logical: 0, peerId: 'a' }),
      encodeHlc({ wall: 1, logical: 65535, peerId: 'z' }),
      encodeHlc({ wall: 1, logical: 3, peerId: 'b' }),
      encodeHlc({ wall: 1, logical: 3, peerId: 'a' })
    ]
    expect([...ts].sort(compareHlc)).toEqual([ts[3], ts[2], ts[1], ts[0]])
  })
})
