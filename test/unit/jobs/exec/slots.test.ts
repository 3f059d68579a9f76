import { describe, expect, it } from 'vitest'
import { Slots } from '../../../../src/jobs/exec/slots.js'

describe('Slots', () => {
  it('grants up to its size at once and the next one on release, in order', async () => {
    const slots = new Slots(2)
    const never = new AbortController().signal
    expect(await slots.acquire(never)).toBe(true)
    expect(await slots.acquire(never)).toBe(true)
    const order: number[] = []
    const third = slots.acquire(never).then(ok => { order.push(3); return ok })
    const fourth = slots.acquire(never).then(ok => { order.push(4); return ok })
    slots.release()
    expect(await third).toBe(true)
    slots.release()
    expect(await fourth).toBe(true)
    expect(order).toEqual([3, 4])
  })

  it('lets a waiter leave when its signal fires, without taking a slot', async () => {
    const slots = new Slots(1)
    expect(await slots.acquire(new AbortController().signal)).toBe(true)
    const leaving = new AbortController()
    const waiting = slots.acquire(leaving.signal)
    leaving.abort()
    expect(await waiting).toBe(false)
    slots.release()
    expect(await slots.acquire(new AbortController().signal)).toBe(true)
  })

  it('refuses at once when the signal already fired', async () => {
    const gone = new AbortController()
    gone.abort()
    expect(await new Slots(4).acquire(gone.signal)).toBe(false)
  })
})
