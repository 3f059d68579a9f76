/**
 * Cron schedules across daylight-saving changes in two zones (issue 15),
 * driven through the ScheduleDriver on the manual clock with a real
 * JobTable: the firings are counted from the table. croner defines the DST
 * rules: an hourly pattern fires once per real hour (no firing for the local
 * hour that does not exist, two for the local hour that happens twice); a
 * daily time in the skipped hour fires at the first valid time after it, one
 * in the repeated hour fires once, at its first occurrence.
 */
import { describe, expect, it } from 'vitest'
import { driverHarness } from './driver-harness.js'

const H = 3600_000

/** `HH:mm GMT+1` of `ms` in `tz`: the local time and its offset. */
function local (ms: number, tz: string): string {
  return new Date(ms).toLocaleString('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hour12: false, timeZoneName: 'shortOffset' })
}

interface Case {
  name: string
  tz: string
  /** Where the clock starts; it runs for `hours`. */
  from: string
  hours: number
  /** Hourly firings, in local time. */
  hourly: string[]
  daily: { expr: string, ticks: string[] }
}

// Europe/Madrid: 2026-03-29 02:00 CET → 03:00 CEST, 2026-10-25 03:00 CEST → 02:00 CET.
// America/New_York: 2026-03-08 02:00 EST → 03:00 EDT, 2026-11-01 02:00 EDT → 01:00 EST.
const CASES: Case[] = [
  {
    name: 'Madrid, spring forward', tz: 'Europe/Madrid', from: '2026-03-28T22:30:00Z', hours: 6,
    hourly: ['00:00 GMT+1', '01:00 GMT+1', '03:00 GMT+2', '04:00 GMT+2', '05:00 GMT+2', '06:00 GMT+2'],
    daily: { expr: '30 2 * * *', ticks: ['2026-03-29T01:00:00.000Z'] } // 02:30 does not exist that night: 03:00 CEST
  },
  {
    name: 'Madrid, fall back', tz: 'Europe/Madrid', from: '2026-10-24T21:30:00Z', hours: 7,
    hourly: ['00:00 GMT+2', '01:00 GMT+2', '02:00 GMT+2', '02:00 GMT+1', '03:00 GMT+1', '04:00 GMT+1', '05:00 GMT+1'],
    daily: { expr: '30 2 * * *', ticks: ['2026-10-25T00:30:00.000Z'] } // 02:30 happens twice: the first (CEST) only
  },
  {
    name: 'New York, spring forward', tz: 'America/New_York', from: '2026-03-08T04:30:00Z', hours: 6,
    hourly: ['00:00 GMT-5', '01:00 GMT-5', '03:00 GMT-4', '04:00 GMT-4', '05:00 GMT-4', '06:00 GMT-4'],
    daily: { expr: '30 2 * * *', ticks: ['2026-03-08T07:00:00.000Z'] } // 02:30 does not exist: 03:00 EDT
  },
  {
    name: 'New York, fall back', tz: 'America/New_York', from: '2026-11-01T03:30:00Z', hours: 6,
    hourly: ['00:00 GMT-4', '01:00 GMT-4', '01:00 GMT-5', '02:00 GMT-5', '03:00 GMT-5', '04:00 GMT-5'],
    daily: { expr: '30 1 * * *', ticks: ['2026-11-01T05:30:00.000Z'] } // 01:30 happens twice: the first (EDT) only
  }
]

describe('cron schedules across a DST change, through the ScheduleDriver', () => {
  for (const c of CASES) {
    it(`${c.name} (${c.tz}): one firing per real hour, each on time; the daily one once`, async () => {
      const start = Date.parse(c.from)
      const h = await driverHarness(start)
      const hourly = h.add({ timing: { kind: 'cron', expr: '0 * * * *', tz: c.tz } })
      const daily = h.add({ timing: { kind: 'cron', expr: c.daily.expr, tz: c.tz } })
      await h.advance(c.hours * H)
      const ticks = h.firedTicks(hourly)
      expect(ticks.map(t => local(t, c.tz))).toEqual(c.hourly)
      // Once per real hour, on the hour: as many firings as hours passed, one hour apart.
      expect(ticks).toHaveLength(c.hours)
      ticks.forEach((t, i) => expect(t).toBe(Math.ceil(start / H) * H + i * H))
      expect(h.firedTicks(daily).map(t => new Date(t).toISOString())).toEqual(c.daily.ticks)
      // Each fired at its tick (the driver's timer is armed for it), and no tick twice.
      for (const j of h.table.list()) expect(j.createdAt).toBe(j.firedAt)
      expect(new Set(h.table.list().map(j => `${j.scheduleId}@${j.firedAt}`)).size).toBe(h.table.list().length)
      await h.driver.stop()
    })
  }

  it('catches up the hours of a fall-back night missed while no coordinator led: each (all, bounded by maxCatchUp), the newest (last), none', async () => {
    const tz = 'America/New_York'
    const h = await driverHarness(Date.parse('2026-11-01T03:30:00Z')) // 23:30 EDT
    const cron = { kind: 'cron', expr: '0 * * * *', tz } as const
    const all = h.add({ timing: cron, catchUp: 'all' })
    const bounded = h.add({ timing: cron, catchUp: 'all', maxCatchUp: 2 })
    const last = h.add({ timing: cron, catchUp: 'last' })
    const none = h.add({ timing: cron, catchUp: 'none' })
    await h.advance(H) // 00:00 EDT fires
    h.lead(false)
    await h.advance(3.6 * H) // 01:00 EDT, 01:00 EST, 02:00 EST and 03:00 EST come with no leader (it leads again at 03:06 EST)
    h.lead(true)
    await h.advance(0)
    const seen = (id: number): string[] => h.firedTicks(id).map(t => local(t, tz))
    expect(seen(all)).toEqual(['00:00 GMT-4', '01:00 GMT-4', '01:00 GMT-5', '02:00 GMT-5', '03:00 GMT-5'])
    expect(seen(bounded)).toEqual(['00:00 GMT-4', '02:00 GMT-5', '03:00 GMT-5'])
    expect(seen(last)).toEqual(['00:00 GMT-4', '03:00 GMT-5'])
    expect(seen(none)).toEqual(['00:00 GMT-4'])
    await h.advance(H)
    for (const id of [all, bounded, last, none]) expect(seen(id).at(-1)).toBe('04:00 GMT-5')
    await h.driver.stop()
  })
})
