import { describe, expect, it } from 'vitest'
import { createJobTable, MAX_LOG_CHARS, type JobOutcome } from '../../../src/jobs/index.js'
import { cmd, launch, run, T0 } from './fixtures.js'

const state = (o: JobOutcome): string => o.ok ? String(o.state) : o.code

describe('job table transitions (issue 14)', () => {
  it('runs a job queued → assigned → running → ready and keeps the attempt', () => {
    const t = createJobTable()
    const out = run(t, launch(1), cmd.assign(1, 'p1', 1, 3, T0 + 10), cmd.started(1, 1, T0 + 20), cmd.progress(1, 1, 0.5, T0 + 30), cmd.heartbeat(1, 1, T0 + 40), cmd.ok(1, 1, T0 + 120))
    expect(out.map(state)).toEqual(['queued', 'assigned', 'running', 'running', 'running', 'ready'])
    const job = t.get(1)
    expect(job).toMatchObject({ state: 'ready', peerId: 'p1', term: 3, attempt: 1, output: 120, log: 'done', createdAt: T0, startedAt: T0 + 20, endedAt: T0 + 120, priority: 5 })
    expect(job?.progress).toBeUndefined()
    expect(job?.attempts).toEqual([{ attempt: 1, peerId: 'p1', term: 3, assignedAt: T0 + 10, startedAt: T0 + 20, endedAt: T0 + 120, outcome: 'ready', durationMs: 100 }])
    expect(t.activeJobs().next().done).toBe(true)
  })

  it('refuses an assignment of a stale attempt, from an older term, or of a job not waiting', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2))
    expect(run(t, cmd.assign(1, 'p1', 2))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(run(t, cmd.assign(1, 'p1', 1, 5))[0]).toMatchObject({ ok: true, state: 'assigned' })
    expect(run(t, cmd.assign(1, 'p2', 1, 5))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' }) // not waiting any more
    expect(run(t, cmd.assign(2, 'p2', 1, 4))[0]).toMatchObject({ ok: false, code: 'ERR_STALE_TERM' }) // term 5 was seen
    run(t, cmd.requeue(1, 1))
    expect(run(t, cmd.assign(1, 'p2', 1, 5))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' }) // attempt 1 is spent
    expect(run(t, cmd.assign(1, 'p2', 2, 5))[0]).toMatchObject({ ok: true, attempt: 2 })
    expect(t.term()).toBe(5)
  })

  it('ignores reports about an attempt that is not the live one', () => {
    const t = createJobTable()
    run(t, launch(1), cmd.assign(1, 'p1', 1), cmd.started(1, 1), cmd.requeue(1, 1, T0 + 5), cmd.assign(1, 'p2', 2, 1, T0 + 6))
    const late = run(t, cmd.ok(1, 1, T0 + 7), cmd.started(1, 1), cmd.heartbeat(1, 1), cmd.requeue(1, 1))
    expect(late.every(o => o.ok && !o.changed)).toBe(true)
    expect(t.get(1)).toMatchObject({ state: 'assigned', attempt: 2, peerId: 'p2' })
    expect(run(t, cmd.ok(1, 2, T0 + 9))[0]).toMatchObject({ ok: true, changed: true, state: 'ready' })
    expect(run(t, cmd.ok(1, 2, T0 + 10))[0]).toMatchObject({ ok: true, changed: false }) // a repeated report
  })

  it('cancels a queued job at once and a running one once its worker reports; cancel is idempotent', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2), cmd.assign(2, 'p1', 1), cmd.started(2, 1))
    expect(run(t, cmd.cancel(1, T0 + 1))[0]).toMatchObject({ ok: true, changed: true, state: 'cancelled' })
    expect(run(t, cmd.cancel(1, T0 + 2))[0]).toMatchObject({ ok: true, changed: false, state: 'cancelled' })
    expect(run(t, cmd.cancel(2, T0 + 3))[0]).toMatchObject({ ok: true, changed: true, state: 'cancelling' })
    expect(run(t, cmd.cancel(2, T0 + 4))[0]).toMatchObject({ ok: true, changed: false, state: 'cancelling' })
    expect(t.liveCounts().perPeer.get('p1')).toBe(1) // still holds its slot
    expect(run(t, { type: 'finished', v: 1, at: T0 + 5, jobId: 2, attempt: 1, ok: false, error: 'SIGTERM' })[0]).toMatchObject({ state: 'cancelled' })
    expect(t.get(2)?.attempts[0]).toMatchObject({ outcome: 'cancelled', reason: 'SIGTERM' })
    expect(run(t, cmd.cancel(2))[0]).toMatchObject({ ok: true, changed: false })
    expect(run(t, cmd.cancel(9))[0]).toMatchObject({ ok: false, code: 'ERR_NOT_FOUND' })
  })

  it('a cancelled job whose worker died ends cancelled, not re-queued', () => {
    const t = createJobTable()
    run(t, launch(1), cmd.assign(1, 'p1', 1), cmd.cancel(1))
    expect(run(t, cmd.requeue(1, 1))[0]).toMatchObject({ state: 'cancelled' })
  })

  it('retries a failed attempt after its backoff while retries remain, then fails for good; retry re-drives it', () => {
    const t = createJobTable()
    run(t, launch(1, { retries: 1 }), cmd.assign(1, 'p1', 1))
    expect(run(t, cmd.fail(1, 1, T0 + 10, T0 + 1_000))[0]).toMatchObject({ state: 'retrying' })
    expect(t.placeable(T0 + 999)).toEqual([])
    expect(run(t, cmd.assign(1, 'p2', 2, 1, T0 + 500))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(t.placeable(T0 + 1_000).map(j => j.jobId)).toEqual([1])
    run(t, cmd.assign(1, 'p2', 2, 1, T0 + 1_000))
    expect(run(t, cmd.fail(1, 2, T0 + 1_100, T0 + 5_000))[0]).toMatchObject({ state: 'failed' })
    expect(t.get(1)).toMatchObject({ error: 'boom', failures: 2, endedAt: T0 + 1_100 })
    expect(t.get(1)?.attempts.map(a => [a.peerId, a.outcome, a.reason])).toEqual([['p1', 'failed', 'boom'], ['p2', 'failed', 'boom']])
    expect(run(t, cmd.retry(1, T0 + 2_000))[0]).toMatchObject({ ok: true, state: 'queued' })
    expect(t.get(1)).toMatchObject({ failures: 0, attempt: 2 })
    expect(t.get(1)?.endedAt).toBeUndefined()
    expect(run(t, cmd.retry(1))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' }) // only a failed job
  })

  it('a failure marked not retryable fails at once; one without retryAt is queued again at once', () => {
    const t = createJobTable()
    run(t, launch(1, { retries: 3 }), cmd.assign(1, 'p1', 1), launch(2, { retries: 3 }), cmd.assign(2, 'p1', 1))
    expect(run(t, { type: 'finished', v: 1, at: T0, jobId: 1, attempt: 1, ok: false, error: 'load error', retryable: false })[0]).toMatchObject({ state: 'failed' })
    expect(run(t, cmd.fail(2, 1))[0]).toMatchObject({ state: 'queued' })
  })

  it('re-queues the attempt of a dead worker until maxLost, then fails with every attempt kept', () => {
    const t = createJobTable()
    run(t, launch(1, { maxLost: 2 }))
    for (let a = 1; a <= 2; a++) {
      run(t, cmd.assign(1, `p${a}`, a, 1, T0 + a * 10), cmd.started(1, a, T0 + a * 10 + 1))
      expect(run(t, cmd.requeue(1, a, T0 + a * 10 + 5))[0]).toMatchObject({ state: 'queued' })
    }
    run(t, cmd.assign(1, 'p3', 3, 1, T0 + 30))
    expect(run(t, cmd.requeue(1, 3, T0 + 40, 'worker silent'))[0]).toMatchObject({ state: 'failed' })
    expect(t.get(1)?.error).toMatch(/lost 3 attempts/)
    expect(t.get(1)?.attempts.map(a => [a.peerId, a.outcome, a.reason, a.durationMs])).toEqual([
      ['p1', 'lost', 'worker dead', 4], ['p2', 'lost', 'worker dead', 4], ['p3', 'lost', 'worker silent', 10]
    ])
  })

  it('keeps the newest part of a long log and marks it truncated', () => {
    const t = createJobTable()
    const log = 'a'.repeat(MAX_LOG_CHARS) + 'the end'
    run(t, launch(1), cmd.assign(1, 'p1', 1), { type: 'finished', v: 1, at: T0, jobId: 1, attempt: 1, ok: true, log })
    expect(t.get(1)?.log.endsWith('the end')).toBe(true)
    expect(t.get(1)).toMatchObject({ logTruncated: true })
    expect(t.get(1)?.log.length).toBe(MAX_LOG_CHARS)
  })

  it('refuses malformed commands with ERR_BAD_REQUEST and changes nothing', () => {
    const t = createJobTable()
    const bad = [
      launch(1, { priority: 10 }), launch(1, { priority: 2.5 }), launch(0), launch(1, { seed: '' }), launch(1, { args: [] as unknown as Record<string, unknown> }),
      launch(1, { at: Number.NaN }), { ...launch(1), v: 2 }, { type: 'nope', v: 1, at: T0, jobId: 1 }, { type: 'progress', v: 1, at: T0, jobId: 1, attempt: 1, fraction: 2 }
    ]
    for (const op of bad) expect(t.apply(op as never)).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
    expect(t.size).toBe(0)
    expect(() => t.apply(null as never)).toThrow()
  })

  it('ids are never reused, even after a prune; a launch replayed by its proposer is answered like the first', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2, { nonce: 'n2' }))
    expect(run(t, launch(2, { nonce: 'n2' }))[0]).toMatchObject({ ok: true, changed: false, jobId: 2 })
    expect(run(t, launch(2, { seed: 'other/seed' }))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(t.nextJobId()).toBe(3)
    run(t, cmd.cancel(2), cmd.prune(T0 + 1))
    expect(t.get(2)).toBeUndefined()
    expect(run(t, launch(2, { at: T0 + 5 }))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(t.nextJobId()).toBe(3)
  })
  it('a second launch of the same seed in the same ms that took the same id is refused, not answered with the first job (issue 14: 500 launches lost half their jobs)', () => {
    const t = createJobTable()
    expect(run(t, launch(1, { nonce: 'a', args: { n: 1 } }))[0]).toMatchObject({ ok: true, changed: true, jobId: 1 })
    expect(run(t, launch(1, { nonce: 'b', args: { n: 2 } }))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(run(t, launch(1, { args: { n: 2 } }))[0]).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    expect(run(t, launch(2, { nonce: 'b', args: { n: 2 } }))[0]).toMatchObject({ ok: true, changed: true, jobId: 2 })
    expect(t.get(2)?.args).toEqual({ n: 2 })
  })
  it('an unstarted re-queue holds only while the attempt has not started, and costs no lost attempt', () => {
    const t = createJobTable()
    const unstarted = (jobId: number, attempt: number, at = T0) => ({ ...cmd.requeue(jobId, attempt, at, 'assignment not delivered'), unstarted: true })
    run(t, launch(1, { maxLost: 0 }), launch(2), cmd.assign(1, 'p1', 1), cmd.assign(2, 'p1', 1))
    // Job 1: the re-queue commits first; the worker's start comes too late and is ignored (it must not run it).
    expect(run(t, unstarted(1, 1, T0 + 5))[0]).toMatchObject({ ok: true, changed: true, state: 'queued' })
    expect(run(t, cmd.started(1, 1, T0 + 6))[0]).toMatchObject({ ok: true, changed: false, state: 'queued', attempt: 1 })
    expect(t.get(1)).toMatchObject({ losses: 0, attempts: [{ outcome: 'lost', reason: 'assignment not delivered' }] })
    expect(run(t, cmd.assign(1, 'p2', 2, 1, T0 + 7))[0]).toMatchObject({ ok: true, state: 'assigned' }) // maxLost 0, yet placed again
    // Job 2: the start commits first; the re-queue is ignored and the attempt runs on.
    expect(run(t, cmd.started(2, 1, T0 + 5))[0]).toMatchObject({ ok: true, changed: true, state: 'running', attempt: 1 })
    expect(run(t, unstarted(2, 1, T0 + 6))[0]).toMatchObject({ ok: true, changed: false, state: 'running' })
    // Cancelled before it started: the unstarted re-queue ends it cancelled.
    run(t, launch(3), cmd.assign(3, 'p1', 1), cmd.cancel(3))
    expect(run(t, unstarted(3, 1))[0]).toMatchObject({ ok: true, state: 'cancelled' })
    expect(t.apply({ ...unstarted(2, 1), unstarted: 'yes' } as never)).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
  })

  it('gives a launch without an id the next one: concurrent launches never conflict, even after a prune', () => {
    const t = createJobTable()
    const { jobId: _, ...noId } = launch(1)
    expect(t.apply({ type: 'batch', v: 1, commands: [noId, { ...noId, at: T0 + 1 }, launch(3), noId] })).toMatchObject([
      { ok: true, changed: true, jobId: 1 }, { ok: true, changed: true, jobId: 2 }, { ok: true, changed: true, jobId: 3 }, { ok: true, changed: true, jobId: 4 }
    ])
    run(t, cmd.cancel(4), cmd.prune(T0 + 1))
    expect(run(t, { ...noId, at: T0 + 9 })[0]).toMatchObject({ ok: true, changed: true, jobId: 5 })
    expect(run(t, { ...noId, jobId: 0 })[0]).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
  })
})
