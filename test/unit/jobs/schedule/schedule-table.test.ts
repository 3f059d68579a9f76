import { describe, expect, it } from 'vitest'
import { JobTable, type JobOp, type JobOutcome, type ScheduleCommand, type ScheduleSpec } from '../../../../src/jobs/index.js'
import { T0, cmd, run } from '../fixtures.js'

const S = 1000
const spec = (p: Partial<ScheduleSpec> = {}): ScheduleSpec => ({ timing: { kind: 'every', everyMs: 10 * S }, catchUp: 'last', maxCatchUp: 10, overlap: 'skip', once: false, ...p })
const schedule = (scheduleId: number, p: Partial<ScheduleCommand> = {}): ScheduleCommand =>
  ({ type: 'schedule', v: 1, at: T0, scheduleId, template: { seed: 'example/tick', seedHash: 'h1', args: { n: 1 } }, spec: spec(), ...p })
const fire = (scheduleId: number, ticks: number[], at = ticks[ticks.length - 1] ?? T0, skipThrough?: number): JobOp =>
  ({ type: 'fire', v: 1, at, scheduleId, ticks, ...(skipThrough !== undefined ? { skipThrough } : {}) })

describe('schedules in the job table', () => {
  it('takes schedule ids from the job ids\' sequence', () => {
    const t = new JobTable()
    expect(run(t, schedule(1))[0]).toMatchObject({ ok: true, changed: true, jobId: 1 })
    expect(t.nextJobId()).toBe(2)
    expect(run(t, schedule(1, { at: T0 + 1 }))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(run(t, schedule(1))[0]).toMatchObject({ ok: true, changed: false }) // the same proposal again
  })

  it('fires a tick once, however often it is proposed; each firing is a queued job of the template', () => {
    const t = new JobTable()
    run(t, schedule(1))
    const first = t.apply(fire(1, [T0 + 10 * S])) as JobOutcome
    expect(first).toMatchObject({ ok: true, changed: true, fired: [2] })
    expect(t.get(2)).toMatchObject({ seed: 'example/tick', args: { n: 1 }, state: 'queued', scheduleId: 1, firedAt: T0 + 10 * S })
    expect(t.apply(fire(1, [T0 + 10 * S]))).toMatchObject({ ok: true, changed: false, fired: [] })
    expect(t.apply(fire(1, [T0 + 5 * S]))).toMatchObject({ changed: false })
    expect(t.schedule(1)).toMatchObject({ lastTick: T0 + 10 * S, fired: 1, executions: [{ tick: T0 + 10 * S, jobId: 2 }] })
  })

  it('skips a tick while the previous firing is active (overlap skip), queues it behind (queue) or runs it beside (allow)', () => {
    const t = new JobTable()
    run(t, schedule(1), schedule(2, { spec: spec({ overlap: 'queue' }) }), schedule(3, { spec: spec({ overlap: 'allow' }) }))
    for (const id of [1, 2, 3]) t.apply(fire(id, [T0 + 10 * S]))
    for (const id of [1, 2, 3]) t.apply(fire(id, [T0 + 20 * S]))
    expect(t.schedule(1)).toMatchObject({ fired: 1, skipped: 1, executions: [{ jobId: 4 }, { tick: T0 + 20 * S, skipped: 'overlap' }] })
    const queued = t.schedule(2)!.lastJobId!
    const allowed = t.schedule(3)!.lastJobId!
    expect(t.get(queued)).toMatchObject({ state: 'queued', waitsFor: 5 })
    const placeable = t.placeable(T0 + 20 * S).map(j => j.jobId)
    expect(placeable).not.toContain(queued)
    expect(placeable).toContain(allowed)
    run(t, cmd.assign(5, 'a', 1), cmd.ok(5, 1))
    expect(t.placeable(T0 + 20 * S).map(j => j.jobId)).toContain(queued)
  })

  it('passes over ticks up to skipThrough without firing', () => {
    const t = new JobTable()
    run(t, schedule(1))
    expect(t.apply(fire(1, [], T0 + 95 * S, T0 + 90 * S))).toMatchObject({ ok: true, changed: true, fired: [] })
    expect(t.schedule(1)?.lastTick).toBe(T0 + 90 * S)
    expect(t.apply(fire(1, [T0 + 90 * S]))).toMatchObject({ changed: false })
  })

  it('cancels a schedule at once: no more firings, its queued firing is cancelled, a running one runs on; idempotent', () => {
    const t = new JobTable()
    run(t, schedule(1, { spec: spec({ overlap: 'allow' }) }))
    t.apply(fire(1, [T0 + 10 * S]))
    t.apply(fire(1, [T0 + 20 * S]))
    run(t, cmd.assign(2, 'a', 1), cmd.started(2, 1))
    expect(run(t, cmd.cancel(1, T0 + 21 * S))[0]).toMatchObject({ ok: true, changed: true, jobId: 1 })
    expect(t.schedule(1)).toMatchObject({ state: 'canceled', cancelledAt: T0 + 21 * S })
    expect(t.get(3)?.state).toBe('cancelled')
    expect(t.get(2)?.state).toBe('running')
    expect(t.apply(fire(1, [T0 + 30 * S]))).toMatchObject({ changed: false, fired: [] })
    expect(run(t, cmd.cancel(1, T0 + 22 * S))[0]).toMatchObject({ ok: true, changed: false })
  })

  it('ends a once schedule after its firing', () => {
    const t = new JobTable()
    run(t, schedule(1, { spec: spec({ once: true }) }))
    t.apply(fire(1, [T0 + 10 * S]))
    expect(t.schedule(1)?.state).toBe('done')
    expect(t.apply(fire(1, [T0 + 20 * S]))).toMatchObject({ changed: false })
  })

  it('registers one live schedule per seed, and a dedup key answers the first', () => {
    const t = new JobTable()
    expect(run(t, schedule(1, { fromSeed: 'example/tick' }), schedule(2, { fromSeed: 'example/tick' }))[1]).toMatchObject({ ok: true, changed: false, jobId: 1, deduped: true })
    expect(t.scheduleOfSeed('example/tick')?.scheduleId).toBe(1)
    run(t, cmd.cancel(1))
    expect(t.scheduleOfSeed('example/tick')).toBeUndefined()
    expect(run(t, schedule(3, { dedupKey: 'k' }), schedule(4, { dedupKey: 'k' }))[1]).toMatchObject({ jobId: 3, deduped: true })
  })

  it('keeps schedules through a snapshot, and prunes ended ones', () => {
    const t = new JobTable()
    run(t, schedule(1), schedule(2, { fromSeed: 'example/tick' }))
    t.apply(fire(1, [T0 + 10 * S]))
    const copy = new JobTable()
    copy.restore(t.snapshot())
    expect(copy.schedule(1)).toEqual(t.schedule(1))
    expect(copy.scheduleOfSeed('example/tick')?.scheduleId).toBe(2)
    expect(copy.nextJobId()).toBe(4)
    run(copy, cmd.cancel(1, T0 + 20 * S))
    expect(run(copy, cmd.prune(T0 + 30 * S))[0]).toMatchObject({ ok: true })
    expect(copy.schedule(1)).toBeUndefined()
    expect(copy.schedule(2)?.state).toBe('scheduled')
  })

  it('refuses malformed schedule and fire commands deterministically', () => {
    const t = new JobTable()
    expect(run(t, { ...schedule(1), spec: { ...spec(), timing: { kind: 'every', everyMs: 5 } } })[0]).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
    expect(run(t, { ...schedule(1), spec: { ...spec(), overlap: 'maybe' as never } })[0]).toMatchObject({ ok: false })
    expect(run(t, fire(9, [T0]))[0]).toMatchObject({ ok: false, code: 'ERR_NOT_FOUND' })
    expect(run(t, { type: 'fire', v: 1, at: T0, scheduleId: 1, ticks: ['x'] as never })[0]).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
  })
})
