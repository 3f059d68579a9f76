import { describe, expect, it } from 'vitest'
import { decideFirings, nextDecisionAt, nextTick, parseEvery, parseScheduled, ticksIn, type ScheduleSpec, type Timing } from '../../../../src/jobs/index.js'

const T0 = Date.UTC(2026, 0, 1)
const S = 1000
const spec = (timing: Timing, p: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ timing, catchUp: 'last', maxCatchUp: 10, overlap: 'skip', once: false, ...p })

describe('parseScheduled', () => {
  it('takes Pulzar\'s form with its ranges and messages; the interval is case-insensitive, time_unit may be a numeric string', () => {
    expect(parseScheduled({ interval: 'Minutes', time_unit: '5', repeat: 1 })).toMatchObject({ ok: true, spec: { timing: { kind: 'every', everyMs: 5 * 60 * S }, once: false, pulzar: { interval: 'minutes', timeUnit: 5, repeat: 1 } } })
    expect(parseScheduled({ interval: 'weeks', time_unit: 4, repeat: 0 })).toMatchObject({ ok: true, spec: { once: true } })
    expect(parseScheduled({ interval: 'minutes', time_unit: 4, repeat: 1 })).toEqual({ ok: false, msg: 'interval not allowed for the time_unit' })
    expect(parseScheduled({ interval: 'hours', time_unit: 24, repeat: 1 })).toEqual({ ok: false, msg: 'interval not allowed for the time_unit' })
    expect(parseScheduled({ interval: 'days', time_unit: 32, repeat: 1 })).toEqual({ ok: false, msg: 'interval not allowed for the time_unit' })
    expect(parseScheduled({ interval: 'fortnights', time_unit: 1, repeat: 1 })).toEqual({ ok: false, msg: 'interval must be minutes, hours, days or weeks' })
    expect(parseScheduled({ interval: 'hours', time_unit: 1 })).toMatchObject({ ok: false, msg: expect.stringMatching(/^'repeat'/) })
  })

  it('takes pmz\'s every and cron forms with catch-up and overlap policies', () => {
    expect(parseScheduled({ every: '1 second' })).toEqual({ ok: true, spec: spec({ kind: 'every', everyMs: S }) })
    expect(parseScheduled({ every: '30 seconds', catchUp: 'all', maxCatchUp: 5, overlap: 'queue' }))
      .toEqual({ ok: true, spec: spec({ kind: 'every', everyMs: 30 * S }, { catchUp: 'all', maxCatchUp: 5, overlap: 'queue' }) })
    expect(parseScheduled({ cron: '*/5 * * * *', tz: 'Europe/Madrid' })).toEqual({ ok: true, spec: spec({ kind: 'cron', expr: '*/5 * * * *', tz: 'Europe/Madrid' }) })
    expect(parseScheduled({ cron: 'not a cron' })).toMatchObject({ ok: false, msg: expect.stringContaining('bad cron expression') })
    expect(parseScheduled({ cron: '* * * * *', tz: 'Nowhere/Zone' })).toEqual({ ok: false, msg: 'unknown time zone Nowhere/Zone' })
    expect(parseScheduled({ every: '0 seconds' })).toEqual({ ok: false, msg: 'every must be from 1 second to 1 year' })
    expect(parseScheduled({ every: 'often' })).toMatchObject({ ok: false })
    expect(parseScheduled({ every: '1 minute', catchUp: 'some' })).toEqual({ ok: false, msg: 'catchUp must be none, last or all' })
    expect(parseScheduled({ every: '1 minute', overlap: 'x' })).toEqual({ ok: false, msg: 'overlap must be skip, queue or allow' })
    expect(parseScheduled({ every: '1 minute', maxCatchUp: 0 })).toMatchObject({ ok: false })
    expect(parseScheduled({})).toMatchObject({ ok: false })
    expect(parseScheduled('5 minutes')).toMatchObject({ ok: false })
  })

  it('reads every in several spellings', () => {
    expect(['1 second', '5 minutes', '2 hours', '1 day', '1 week', 'hour', '90s', '10 MIN'].map(parseEvery))
      .toEqual([S, 300 * S, 7200 * S, 86_400 * S, 7 * 86_400 * S, 3600 * S, 90 * S, 600 * S])
  })
})

describe('ticks', () => {
  it('ticks an every timing one interval after its anchor, then each interval', () => {
    const t: Timing = { kind: 'every', everyMs: 10 * S }
    expect(nextTick(t, T0, T0)).toBe(T0 + 10 * S)
    expect(nextTick(t, T0, T0 + 10 * S)).toBe(T0 + 20 * S)
    expect(ticksIn(t, T0, T0, T0 + 35 * S, 10)).toEqual([T0 + 10 * S, T0 + 20 * S, T0 + 30 * S])
    expect(ticksIn(t, T0, T0, T0 + 35 * S, 2)).toEqual([T0 + 20 * S, T0 + 30 * S])
    expect(ticksIn(t, T0, T0 + 20 * S, T0 + 20 * S, 5)).toEqual([])
  })

  it('ticks a cron timing in its zone, across a DST change, in two zones', () => {
    // 02:30 every day. Europe/Madrid springs forward on 2026-03-29 (02:00 → 03:00): croner fires at 03:00 local that day.
    const madrid: Timing = { kind: 'cron', expr: '30 2 * * *', tz: 'Europe/Madrid' }
    const ny: Timing = { kind: 'cron', expr: '30 2 * * *', tz: 'America/New_York' }
    const from = Date.UTC(2026, 2, 27, 12)
    const iso = (t: number[]): string[] => t.map(x => new Date(x).toISOString())
    expect(iso(ticksIn(madrid, from, from, Date.UTC(2026, 2, 31), 10))).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'])
    // New York changed on 2026-03-08; in November it falls back (2026-11-01): 02:30 happens once, at UTC-5.
    const nov = Date.UTC(2026, 9, 30, 12)
    expect(iso(ticksIn(ny, nov, nov, Date.UTC(2026, 10, 3), 10))).toEqual(['2026-10-31T06:30:00.000Z', '2026-11-01T07:30:00.000Z', '2026-11-02T07:30:00.000Z'])
  })
})

describe('decideFirings', () => {
  const every = { kind: 'every', everyMs: 10 * S } as const
  it('fires the due tick on time', () => {
    expect(decideFirings({ spec: spec(every), anchor: T0, lastTick: T0 }, T0 + 10 * S + 5)).toEqual({ fire: [T0 + 10 * S] })
    expect(decideFirings({ spec: spec(every), anchor: T0, lastTick: T0 }, T0 + 9 * S)).toEqual({ fire: [] })
  })

  it('folds missed ticks into one (last), fires each up to maxCatchUp (all), or passes them over (none)', () => {
    const late = T0 + 95 * S
    expect(decideFirings({ spec: spec(every), anchor: T0, lastTick: T0 }, late)).toEqual({ fire: [T0 + 90 * S] })
    expect(decideFirings({ spec: spec(every, { catchUp: 'all', maxCatchUp: 3 }), anchor: T0, lastTick: T0 }, late)).toEqual({ fire: [T0 + 70 * S, T0 + 80 * S, T0 + 90 * S] })
    expect(decideFirings({ spec: spec(every, { catchUp: 'none' }), anchor: T0, lastTick: T0 }, late)).toEqual({ fire: [], skipThrough: T0 + 90 * S })
    expect(decideFirings({ spec: spec(every, { catchUp: 'none' }), anchor: T0, lastTick: T0 }, T0 + 90 * S + 500)).toEqual({ fire: [T0 + 90 * S] })
  })

  it('counts a tick that came before the decider took the lead as missed, however recent (none)', () => {
    const none = spec(every, { catchUp: 'none' })
    const now = T0 + 90 * S + 500
    expect(decideFirings({ spec: none, anchor: T0, lastTick: T0 + 80 * S }, now, { since: T0 + 90 * S + 200 })).toEqual({ fire: [], skipThrough: T0 + 90 * S })
    expect(decideFirings({ spec: none, anchor: T0, lastTick: T0 + 80 * S }, now, { since: T0 + 90 * S })).toEqual({ fire: [T0 + 90 * S] })
    expect(decideFirings({ spec: spec(every), anchor: T0, lastTick: T0 + 80 * S }, now, { since: now })).toEqual({ fire: [T0 + 90 * S] })
    expect(decideFirings({ spec: spec(every, { catchUp: 'none', once: true }), anchor: T0, lastTick: T0 }, T0 + 10 * S, { since: T0 + 10 * S + 1 })).toEqual({ fire: [], skipThrough: T0 + 10 * S })
  })

  it('fires a once schedule\'s first tick only', () => {
    const once = spec(every, { once: true })
    expect(decideFirings({ spec: once, anchor: T0, lastTick: T0 }, T0 + 25 * S)).toEqual({ fire: [T0 + 10 * S] })
    expect(decideFirings({ spec: once, anchor: T0, lastTick: T0 + 10 * S }, T0 + 25 * S)).toEqual({ fire: [] })
    expect(nextDecisionAt({ spec: once, anchor: T0, lastTick: T0 + 10 * S })).toBeUndefined()
    expect(nextDecisionAt({ spec: spec(every), anchor: T0, lastTick: T0 + 10 * S })).toBe(T0 + 20 * S)
  })
})
