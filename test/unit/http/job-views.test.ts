import { describe, expect, it } from 'vitest'
import { allJobsItem, jobBuckets, jobDetail, jobNames, pulzarTime } from '../../../src/http/job-views.js'
import { feedEvents, sseFrame, type FeedMark } from '../../../src/http/sse-events.js'
import { JobTable, type JobView } from '../../../src/jobs/index.js'
import { T0, cmd, launch, run } from '../jobs/fixtures.js'

/** A table with job 1 ready (2.5 s run), 2 running, 3 failed, 4 cancelled before it ran. */
function table (): JobTable {
  const t = new JobTable()
  run(t, launch(1), launch(2, { args: { n: 2 } }), launch(3), launch(4),
    cmd.assign(1, 'w1', 1), cmd.started(1, 1), cmd.ok(1, 1, T0 + 2500, 'out'),
    cmd.assign(2, 'w2', 1), cmd.started(2, 1),
    cmd.assign(3, 'w1', 1), cmd.fail(3, 1), cmd.cancel(4))
  return t
}

describe('job views (pulzar-api.md §9.3)', () => {
  it('writes times as Pulzar does, UTC', () => {
    expect(pulzarTime(Date.UTC(2026, 10, 22, 17, 54, 0, 999))).toBe('2026-11-22 17:54:00+0000')
    expect(pulzarTime(8.64e15 + 1)).toBeNull()
  })

  it('names a job by its script and keeps its directory apart', () => {
    expect(jobNames('example/factorial')).toEqual({ job_name: 'factorial', job_path: '/example' })
    expect(jobNames('a/b/c')).toEqual({ job_name: 'c', job_path: '/a/b' })
  })

  it('sorts jobs into Pulzar\'s buckets with its item fields; running is pending', () => {
    const t = table()
    const b = jobBuckets(t.list())
    expect(b.pendings).toEqual([expect.objectContaining({ job_id: 2, job_name: 'factorial', parameters: '{"n":2}', node: 'w2', status: 0, state: 'running', creation_time: '2026-01-01 00:00:00+0000' })])
    expect(b.ready).toEqual([expect.objectContaining({ job_id: 1, status: 1 })])
    expect((b.failed as Array<{ job_id: number }>).map(j => j.job_id)).toEqual([4, 3])
    expect(b.scheduled).toEqual([])
    expect(allJobsItem(t.get(4)!)).toMatchObject({ status: 'failed', state: 'cancelled', node: null })
  })

  it('details a job as Pulzar does: "na" while pending, seconds when done', () => {
    const t = table()
    expect(jobDetail(t.get(2)!)).toMatchObject({ job: '2', log: 'na', time: 'na', status: 'pending', output: null })
    expect(jobDetail(t.get(1)!)).toMatchObject({ job: '1', log: 'done', time: 2.5, status: 'completed', output: 'out' })
    expect(jobDetail(t.get(4)!)).toMatchObject({ status: 'failed', time: 0, error: 'cancelled' })
  })
})

describe('job event stream (feedEvents)', () => {
  it('tells a state once, log lines before the progress they came with, and ends with the detail', () => {
    const t = new JobTable()
    const mark: FeedMark = {}
    run(t, launch(1))
    const job = (): JobView => t.get(1)!
    expect(feedEvents(mark, 1, { job: job(), lines: [] }).map(e => e.event)).toEqual(['state'])
    run(t, cmd.assign(1, 'w1', 1))
    expect(feedEvents(mark, 1, { job: job(), lines: [] })).toEqual([{ event: 'state', data: { job_id: 1, state: 'assigned', status: 'pending', attempt: 1, node: 'w1' } }])
    run(t, cmd.progress(1, 1, 0.5))
    expect(feedEvents(mark, 1, { job: job(), lines: ['a'] })).toEqual([
      { event: 'state', data: expect.objectContaining({ state: 'running' }) },
      { event: 'log', data: { job_id: 1, attempt: 1, line: 'a' } },
      { event: 'progress', data: { job_id: 1, attempt: 1, fraction: 0.5, text: 'half' } }
    ])
    run(t, cmd.heartbeat(1, 1))
    expect(feedEvents(mark, 1, { job: job(), lines: [] })).toEqual([])
    run(t, cmd.ok(1, 1))
    const end = feedEvents(mark, 1, { job: job(), lines: [] })
    expect(end.map(e => e.event)).toEqual(['state', 'end'])
    expect(end[1].data).toMatchObject({ job: '1', status: 'completed', output: 120 })
    expect(feedEvents(mark, 1, { job: job(), lines: [] })).toEqual([])
  })

  it('ends when the job is gone, and frames events as text/event-stream', () => {
    expect(feedEvents({}, 9, { job: undefined, lines: [] })).toEqual([{ event: 'end', data: { job: '9', state: null, status: null } }])
    expect(sseFrame({ event: 'log', data: { line: 'a\nb' } })).toBe('event: log\ndata: {"line":"a\\nb"}\n\n')
  })
})
