import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { dayRange, localDay, parseDay } from '../../../src/extensions/search/dates.js'

const day = (y: number, m: number, d: number): number => Date.UTC(y, m - 1, d) / 86_400_000

describe('search dates', () => {
  it('reads Pulzar dates (mm-dd-yyyy, 1-2 digit month and day) and ISO dates to the same day', () => {
    expect(parseDay('03-01-2021')).toBe(day(2021, 3, 1))
    expect(parseDay('3-1-2021')).toBe(day(2021, 3, 1))
    expect(parseDay('3/1/2021')).toBe(day(2021, 3, 1))
    expect(parseDay('2021-03-01')).toBe(day(2021, 3, 1))
    expect(parseDay(' 12-31-1999 ')).toBe(day(1999, 12, 31))
  })

  it('takes the local day of an ISO date-time', () => {
    const at = new Date(2021, 5, 30, 23, 30)
    expect(parseDay(at.toISOString())).toBe(day(2021, 6, 30))
  })

  it('refuses what is not a date, or not a real one', () => {
    for (const bad of ['', 'today', '2021/03/01', '13-01-2021', '02-30-2021', '00-10-2021', '2021-3-1', '03-01-21', '2021-02-29']) {
      expect(parseDay(bad), bad).toBeUndefined()
    }
    expect(parseDay('02-29-2024')).toBe(day(2024, 2, 29))
  })

  it('computes the local calendar day of an instant', () => {
    expect(localDay(new Date(2021, 2, 1, 0, 0, 1).getTime())).toBe(day(2021, 3, 1))
    expect(localDay(new Date(2021, 2, 1, 23, 59, 59).getTime())).toBe(day(2021, 3, 1))
  })

  it('builds inclusive ranges: eq wins, lt is on or before, gt on or after', () => {
    expect(dayRange({})).toEqual({ from: undefined, to: undefined })
    expect(dayRange({ eq: '03-01-2021', lt: '01-01-2000' })).toEqual({ from: day(2021, 3, 1), to: day(2021, 3, 1) })
    expect(dayRange({ lt: '03-01-2021' })).toEqual({ from: undefined, to: day(2021, 3, 1) })
    expect(dayRange({ gt: '2021-03-01', lt: '2021-06-30' })).toEqual({ from: day(2021, 3, 1), to: day(2021, 6, 30) })
  })

  it('reads lt=A>=B, Pulzar\'s README range `?lt=A&gt=B` with `&gt` taken for `>`, as lt=A and gt=B (issue 20)', () => {
    expect(dayRange({ lt: '06-30-2021>=03-01-2021' })).toEqual({ from: day(2021, 3, 1), to: day(2021, 6, 30) })
    // Only that form: with a gt of its own, or a bad half, it is a malformed date.
    for (const params of [{ lt: '06-30-2021>=03-01-2021', gt: '03-01-2021' }, { lt: '06-30-2021>=soon' }, { lt: '>=03-01-2021' }]) {
      expect(() => dayRange(params), JSON.stringify(params)).toThrow(/lt: not a date/)
    }
  })

  it('answers a malformed date with ERR_BAD_REQUEST naming the parameter', () => {
    try {
      dayRange({ gt: '31-12-2021' })
      expect.unreachable()
    } catch (err) {
      expect(isPmzError(err, 'ERR_BAD_REQUEST')).toBe(true)
      expect((err as { details: Record<string, unknown> }).details.param).toBe('gt')
    }
  })
})
