import { describe, expect, it } from 'vitest'
import { CliError } from '../../../src/cli/client.js'
import { SCHEDULE_COLUMNS, scheduleStatesOf, scheduledOf, whenCell, type ScheduleRow } from '../../../src/cli/commands/schedules.js'
import { formatTable } from '../../../src/cli/table.js'

const row = (p: Partial<ScheduleRow> = {}): ScheduleRow => ({
  job_id: 7, seed: 'demo/tick', state: 'scheduled', interval: 'minutes', time_unit: 5, every: '5 minutes', cron: null, tz: null,
  next_execution: '2026-01-01 00:05:00+0000', fired: 3, skipped: 1, creation_time: '2026-01-01 00:00:00+0000', ...p
})

describe('pmz job launch --every / --cron', () => {
  it('builds the scheduled object of the flags', () => {
    expect(scheduledOf({})).toBeUndefined()
    expect(scheduledOf({ every: '5 minutes' })).toEqual({ every: '5 minutes' })
    expect(scheduledOf({ cron: '*/5 * * * *', tz: 'Europe/Madrid', catchUp: 'all', overlap: 'queue' }))
      .toEqual({ cron: '*/5 * * * *', tz: 'Europe/Madrid', catchUp: 'all', overlap: 'queue' })
  })

  it('refuses flags that mean nothing together, in one line', () => {
    expect(() => scheduledOf({ every: '1 minute', cron: '* * * * *' })).toThrow(new CliError('give --every or --cron, not both'))
    expect(() => scheduledOf({ every: '1 minute', tz: 'UTC' })).toThrow(CliError)
    expect(() => scheduledOf({ overlap: 'skip' })).toThrow(/--overlap needs --every or --cron/)
  })
})

describe('pmz jobs --state scheduled', () => {
  it('tells schedule states from job states, and refuses a mix', () => {
    expect(scheduleStatesOf('scheduled')).toEqual(['scheduled'])
    expect(scheduleStatesOf('scheduled, canceled,done')).toEqual(['scheduled', 'canceled', 'done'])
    expect(scheduleStatesOf('running,queued')).toBeUndefined()
    expect(() => scheduleStatesOf('scheduled,running')).toThrow(/cannot be mixed/)
  })

  it('shows how a schedule fires, its next firing and its counts', () => {
    expect(whenCell(row())).toBe('every 5 minutes')
    expect(whenCell(row({ every: null, cron: '0 9 * * 1-5', tz: 'Europe/Madrid' }))).toBe('cron 0 9 * * 1-5 Europe/Madrid')
    expect(whenCell(row({ every: null, cron: '0 9 * * *', tz: 'UTC' }))).toBe('cron 0 9 * * *')
    expect(formatTable(SCHEDULE_COLUMNS, [row()])).toBe(
      'ID  STATE      SEED       WHEN             NEXT (UTC)           FIRED  SKIPPED  CREATED\n' +
      '7   scheduled  demo/tick  every 5 minutes  2026-01-01 00:05:00  3      1        2026-01-01 00:00:00\n')
  })
})
