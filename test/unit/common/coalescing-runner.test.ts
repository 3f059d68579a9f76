import { describe, expect, it } from 'vitest'
import { CoalescingRunner } from '../../../src/common/coalescing-runner.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const turn = async (): Promise<void> => await new Promise(resolve => setImmediate(resolve))

describe('CoalescingRunner', () => {
  it('never runs two passes at once; kicks during a pass make exactly one more', async () => {
    let running = 0
    let most = 0
    let passes = 0
    const gates: Array<() => void> = []
    const r = new CoalescingRunner(async () => {
      running++
      most = Math.max(most, running)
      passes++
      await new Promise<void>(resolve => gates.push(resolve))
      running--
    }, () => {})
    r.start()
    r.kick()
    r.kick()
    r.kick()
    await turn()
    expect(passes).toBe(1)
    gates.shift()?.()
    await turn()
    expect(passes).toBe(2)
    gates.shift()?.()
    await turn()
    expect(passes).toBe(2)
    expect(most).toBe(1)
  })

  it('reports a pass that threw and runs again on the next kick; does nothing stopped', async () => {
    const errors: unknown[] = []
    let passes = 0
    const r = new CoalescingRunner(async () => { passes++; throw new Error('boom') }, err => errors.push(err))
    r.kick()
    await turn()
    expect(passes).toBe(0)
    r.start()
    r.kick()
    await turn()
    r.kick()
    await turn()
    expect(passes).toBe(2)
    expect(errors).toHaveLength(2)
  })

  it('holds its subscriptions and one wake timer: wakeAt replaces the wake before, stop undoes both', async () => {
    const clock = new ManualClock()
    let passes = 0
    let subscribed = 0
    const r = new CoalescingRunner(async () => { passes++ }, () => {}, clock)
    r.start(() => { subscribed++; return [() => { subscribed-- }] })
    expect(subscribed).toBe(1)
    r.wakeAt(clock.now() + 100)
    r.wakeAt(clock.now() + 50) // replaces the first
    clock.advance(60)
    await turn()
    expect(passes).toBe(1)
    clock.advance(100)
    await turn()
    expect(passes).toBe(1)
    r.wakeAt(clock.now() + 10)
    r.stop()
    expect(r.stopped).toBe(true)
    expect(subscribed).toBe(0)
    clock.advance(50)
    await turn()
    expect(passes).toBe(1)
    r.wakeAt(clock.now() + 10) // stopped: no timer
    clock.advance(50)
    await turn()
    expect(passes).toBe(1)
  })
})
