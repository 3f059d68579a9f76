import { describe, expect, it } from 'vitest'
import type { Clock } from '../../../src/common/clock.js'
import { STALL_TICK_MS, StallWatch } from '../../../src/common/stall-watch.js'

describe('StallWatch', () => {
  it('logs a turn that came late by more than its bound, once, with how late', async () => {
    let now = 0
    let tick = (): void => {}
    const clock = { now: () => now, setInterval: (fn: () => void) => { tick = fn; return { cancel () {} } } } as unknown as Clock
    const warned: unknown[] = []
    const w = new StallWatch({ clock, log: { warn: (o: unknown) => warned.push(o) } as never }, 200)
    await w.start()
    for (let i = 0; i < 5; i++) { now += STALL_TICK_MS; tick() }
    now += STALL_TICK_MS + 50; tick() // 50 ms late: fine
    expect(warned).toEqual([])
    now += STALL_TICK_MS + 600; tick() // the loop was held 600 ms
    now += STALL_TICK_MS; tick()
    expect(warned).toEqual([{ lateMs: 600 }])
    await w.stop()
  })
})
