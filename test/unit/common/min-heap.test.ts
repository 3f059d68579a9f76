import { describe, expect, it } from 'vitest'
import { MinHeap } from '../../../src/common/min-heap.js'

describe('MinHeap', () => {
  it('pops in the order of its comparator, whatever the order of the pushes', () => {
    const h = new MinHeap<number>((a, b) => a < b)
    const xs = Array.from({ length: 200 }, (_, i) => (i * 7919) % 211)
    for (const x of xs) h.push(x)
    expect(h.size).toBe(200)
    expect(h.peek()).toBe(Math.min(...xs))
    const out: number[] = []
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x)
    expect(out).toEqual([...xs].sort((a, b) => a - b))
    expect(h.pop()).toBeUndefined()
    h.push(3)
    h.push(1)
    expect(h.clear().sort()).toEqual([1, 3])
    expect(h.size).toBe(0)
  })
})
