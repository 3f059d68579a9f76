import { describe, expect, it, vi } from 'vitest'
import { FIRE_WINDOW_MS } from '../../../../src/jobs/driver/schedule-driver.js'
import { driverHarness } from '../schedule/driver-harness.js'

const T0 = Date.UTC(2026, 0, 1)
const S = 1000
const at = (...seconds: number[]): number[] => seconds.map(s => T0 + s * S)

describe('ScheduleDriver', () => {
  it('fires each tick at its time, on timers armed for it', async () => {
    const h = await driverHarness(T0)
    const id = h.add({})
    await h.advance(3.5 * S)
    expect(h.firedTicks(id)).toEqual(at(1, 2, 3))
    expect(h.table.list().map(j => j.createdAt).sort()).toEqual(at(1, 2, 3))
    await h.driver.stop()
  })

  it('fires the ticks that fall due within FIRE_WINDOW_MS of a pass together, each at most that late', async () => {
    const h = await driverHarness(T0)
    const ids: number[] = []
    for (let i = 0; i < 200; i++) {
      ids.push(h.add({}))
      h.clock.set(h.clock.now() + 1) // anchors 1 ms apart: 200 ticks spread over 200 ms of each second
    }
    await h.advance(2.1 * S)
    const jobs = h.table.list().filter(j => j.scheduleId !== undefined)
    expect(new Set(jobs.map(j => `${j.scheduleId}@${j.firedAt}`)).size).toBe(jobs.length)
    expect(jobs.length).toBeGreaterThanOrEqual(200)
    for (const j of jobs) expect(j.createdAt - (j.firedAt as number)).toBeLessThanOrEqual(FIRE_WINDOW_MS)
    // One pass (one log entry) per window, not one per tick.
    expect(new Set(jobs.map(j => j.createdAt)).size).toBeLessThan(jobs.length / 5)
    await h.driver.stop()
  })

  it('decides again soon after a proposal fails, while it still leads', async () => {
    const h = await driverHarness(T0)
    const id = h.add({})
    h.failing.proposals = 1
    await h.advance(1.2 * S)
    expect(h.firedTicks(id)).toEqual([])
    await h.advance(0.4 * S)
    expect(h.firedTicks(id)).toEqual(at(1))
    expect(h.table.list()[0].createdAt).toBe(T0 + 1.5 * S)
    await h.advance(S)
    expect(h.firedTicks(id)).toEqual(at(1, 2))
    await h.driver.stop()
  })

  it('on taking over, fires the ticks due while it did not lead as each catch-up policy says: none of them, the newest, or each', async () => {
    const h = await driverHarness(T0)
    const none = h.add({ catchUp: 'none' })
    const last = h.add({ catchUp: 'last' })
    const all = h.add({ catchUp: 'all' })
    await h.advance(2.5 * S)
    h.lead(false) // no coordinator from 2.5 s to 4.2 s: the ticks of 3 s and 4 s are missed
    await h.advance(1.7 * S)
    h.lead(true)
    await h.advance(0)
    expect(h.firedTicks(none)).toEqual(at(1, 2))
    expect(h.firedTicks(last)).toEqual(at(1, 2, 4))
    expect(h.firedTicks(all)).toEqual(at(1, 2, 3, 4))
    await h.advance(S)
    expect(h.firedTicks(none)).toEqual(at(1, 2, 5))
    expect(h.firedTicks(last)).toEqual(at(1, 2, 4, 5))
    expect(h.firedTicks(all)).toEqual(at(1, 2, 3, 4, 5))
    await h.driver.stop()
  })
  it('reads the whole schedule list only when it takes the lead or a schedule is added, not on every tick; a later schedule and a cancel count at once', async () => {
    const h = await driverHarness(T0)
    const ids = Array.from({ length: 50 }, () => h.add({}))
    await h.advance(0.5 * S)
    const reads = vi.spyOn(h.table, 'schedules')
    await h.advance(5 * S)
    expect(reads).not.toHaveBeenCalled()
    expect(ids.every(id => h.firedTicks(id).length === 5)).toBe(true)
    const late = h.add({})
    h.table.apply({ type: 'cancel', v: 1, at: h.clock.now(), jobId: ids[0] })
    await h.advance(2 * S)
    expect(reads).toHaveBeenCalledTimes(1)
    expect(h.firedTicks(late)).toEqual([h.clock.now() - S, h.clock.now()])
    expect(h.firedTicks(ids[0])).toHaveLength(5)
    expect(h.firedTicks(ids[1])).toHaveLength(7)
    await h.driver.stop()
  })
})
