import { describe, expect, it } from 'vitest'
import { jobItem } from '../../../src/http/job-views.js'
import { executionItems, formatEvery, pulzarTiming, scheduleDetail, scheduleItem, scheduleStatus } from '../../../src/http/schedule-views.js'
import { JobTable, type JobOp, type ScheduleCommand, type ScheduleSpec } from '../../../src/jobs/index.js'
import { T0, cmd, run } from '../jobs/fixtures.js'

const S = 1000
const MIN = 60 * S
const spec = (p: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ timing: { kind: 'every', everyMs: 5 * MIN }, catchUp: 'last', maxCatchUp: 10, overlap: 'allow', once: false, ...p })
const schedule = (scheduleId: number, p: Partial<ScheduleCommand> = {}): ScheduleCommand =>
  ({ type: 'schedule', v: 1, at: T0, scheduleId, template: { seed: 'example/tick', seedHash: 'h1', args: { n: 1 } }, spec: spec(), ...p })
const fire = (scheduleId: number, tick: number): JobOp => ({ type: 'fire', v: 1, at: tick, scheduleId, ticks: [tick] })

/** Schedule 1 (every 5 minutes) fired jobs 2 (ready), 3 (failed) and 4 (running); schedule 5 was cancelled; job 6 is no firing. */
function table (): JobTable {
  const t = new JobTable()
  run(t, schedule(1), fire(1, T0 + 5 * MIN), fire(1, T0 + 10 * MIN), fire(1, T0 + 15 * MIN),
    cmd.assign(2, 'w1', 1), cmd.started(2, 1, T0 + 5 * MIN), cmd.ok(2, 1, T0 + 5 * MIN + 1500, 'out'),
    cmd.assign(3, 'w1', 1), cmd.fail(3, 1),
    cmd.assign(4, 'w2', 1), cmd.started(4, 1),
    schedule(5, { spec: spec({ timing: { kind: 'cron', expr: '0 9 * * *', tz: 'Europe/Madrid' } }) }), cmd.cancel(5, T0 + MIN),
    { type: 'launch', v: 1, at: T0, jobId: 6, seed: 'example/tick', seedHash: 'h1' })
  return t
}

describe('schedule views (pulzar-api.md §9.3)', () => {
  it('writes an every in its largest whole unit', () => {
    expect(formatEvery(S)).toBe('1 second')
    expect(formatEvery(90 * S)).toBe('90 seconds')
    expect(formatEvery(5 * MIN)).toBe('5 minutes')
    expect(formatEvery(120 * MIN)).toBe('2 hours')
    expect(formatEvery(14 * 24 * 60 * MIN)).toBe('2 weeks')
  })

  it('shows Pulzar\'s interval, time_unit and repeat as given, and fills them for pmz\'s forms', () => {
    expect(pulzarTiming(spec({ timing: { kind: 'every', everyMs: 2 * 60 * MIN }, once: true, pulzar: { interval: 'hours', timeUnit: 2, repeat: 0 } })))
      .toEqual({ interval: 'hours', time_unit: 2, repeat: 0 })
    expect(pulzarTiming(spec({ timing: { kind: 'every', everyMs: 30 * S } }))).toEqual({ interval: 'seconds', time_unit: 30, repeat: 1 })
    expect(pulzarTiming(spec({ timing: { kind: 'every', everyMs: 24 * 60 * MIN } }))).toEqual({ interval: 'days', time_unit: 1, repeat: 1 })
    expect(pulzarTiming(spec({ timing: { kind: 'cron', expr: '* * * * *' } }))).toEqual({ interval: 'cron', time_unit: null, repeat: 1 })
  })

  it('lists a schedule with Pulzar\'s fields, next_execution from its next tick, then pmz\'s', () => {
    const t = table()
    expect(scheduleItem(t.schedule(1)!)).toEqual({
      job_id: 1,
      job_name: 'tick',
      parameters: '{"n":1}',
      creation_time: '2026-01-01 00:00:00+0000',
      interval: 'minutes',
      time_unit: 5,
      repeat: 1,
      next_execution: '2026-01-01 00:20:00+0000',
      state: 'scheduled',
      job_path: '/example',
      seed: 'example/tick',
      every: '5 minutes',
      cron: null,
      tz: null,
      catch_up: 'last',
      max_catch_up: 10,
      overlap: 'allow',
      fired: 3,
      skipped: 0,
      from_seed: null,
      cancel_time: null
    })
    expect(scheduleItem(t.schedule(5)!)).toMatchObject({ state: 'canceled', next_execution: null, interval: 'cron', cron: '0 9 * * *', tz: 'Europe/Madrid', cancel_time: '2026-01-01 00:01:00+0000' })
  })

  it('details a schedule with its executions, newest first: ok, failed, and pending while one runs', () => {
    const t = table()
    const d = scheduleDetail(t.schedule(1)!, t.list({ scheduleIds: [1] }))
    expect(d).toMatchObject({ job: '1', job_path: '/example', job_name: 'tick', next_execution: '2026-01-01 00:20:00+0000', state: 'scheduled', creation: '2026-01-01 00:00:00+0000' })
    expect(d.last_executions).toEqual([
      expect.objectContaining({ exec_id: 4, state: 'pending', log: 'na', output: null, datetime: '2026-01-01 00:15:00+0000', job_state: 'running', node: 'w2' }),
      expect.objectContaining({ exec_id: 3, state: 'failed', log: 'trace', datetime: '2026-01-01 00:10:00+0000', error: 'boom' }),
      expect.objectContaining({ exec_id: 2, state: 'ok', log: 'done', output: 'out', datetime: '2026-01-01 00:05:00+0000', time: 1.5 })
    ])
    expect(scheduleStatus(t.schedule(5)!)).toEqual({ job: '5', state: 'canceled', next_execution: null })
  })

  it('lists an execution with the schedule\'s fields around it', () => {
    const t = table()
    const items = executionItems(new Map([[1, t.schedule(1)!]]), [t.get(3)!, t.get(2)!, t.get(6)!])
    expect(items.map(e => e.exec_id)).toEqual([3, 2]) // job 6 is no firing of these schedules
    expect(Object.keys(items[1]).slice(0, 11)).toEqual(['exec_id', 'job_id', 'job_name', 'parameters', 'creation', 'interval', 'time_unit', 'log', 'output', 'datetime', 'next_execution'])
    expect(items[1]).toMatchObject({
      exec_id: 2, job_id: 1, job_name: 'tick', parameters: '{"n":1}', creation: '2026-01-01 00:00:00+0000', interval: 'minutes', time_unit: 5,
      log: 'done', output: 'out', datetime: '2026-01-01 00:05:00+0000', next_execution: '2026-01-01 00:20:00+0000', state: 'ok', seed: 'example/tick'
    })
  })

  it('gives a firing\'s schedule and tick in its job views; none for a plain job', () => {
    const t = table()
    expect(jobItem(t.get(2)!)).toMatchObject({ schedule_id: 1, fired_at: '2026-01-01 00:05:00+0000' })
    expect(jobItem(t.get(6)!)).toMatchObject({ schedule_id: null, fired_at: null })
  })

  it('a done once-schedule has no next execution', () => {
    const t = new JobTable()
    run(t, schedule(1, { spec: spec({ once: true }) }), fire(1, T0 + 5 * MIN))
    expect(scheduleItem(t.schedule(1)!)).toMatchObject({ state: 'done', repeat: 0, next_execution: null, fired: 1 })
  })
})
