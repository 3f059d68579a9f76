import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import { batch, createJobTable, DEDUP_WINDOW_MS, JobTable, type JobOp, type JobOutcome } from '../../../src/jobs/index.js'
import { cmd, launch, run, T0 } from './fixtures.js'

describe('job table as a replicated state machine (issue 14)', () => {
  it('applies a batch in order, one outcome per command, a refused one leaving the others alone', () => {
    const t = createJobTable()
    const out = t.apply(batch([launch(1), launch(2), cmd.assign(1, 'p1', 1), cmd.assign(3, 'p1', 1), cmd.assign(2, 'p2', 2), cmd.started(1, 1)])) as JobOutcome[]
    expect(out.map(o => o.ok ? o.state : o.code)).toEqual(['queued', 'queued', 'assigned', 'ERR_NOT_FOUND', 'ERR_CONFLICT', 'running'])
    expect(t.get(2)?.state).toBe('queued')
  })

  it('refuses a nested batch, and throws for an entry that is not a batch it can read', () => {
    const t = createJobTable()
    expect(t.apply(batch([batch([launch(1)]) as unknown as JobOp]))).toEqual([expect.objectContaining({ ok: false, code: 'ERR_BAD_REQUEST' })])
    expect(() => t.apply({ type: 'batch', v: 2, commands: [] } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    expect(() => t.apply({ type: 'batch', v: 1, commands: 'x' } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
  })

  it('a repeat of a dedup key within 24 h returns the first job, not after', () => {
    const t = createJobTable()
    run(t, launch(1, { dedupKey: 'k' }))
    expect(run(t, launch(2, { dedupKey: 'k', at: T0 + DEDUP_WINDOW_MS - 1 }))[0]).toMatchObject({ ok: true, changed: false, jobId: 1, deduped: true })
    expect(t.get(2)).toBeUndefined()
    expect(run(t, launch(3, { dedupKey: 'k', at: T0 + DEDUP_WINDOW_MS }))[0]).toMatchObject({ ok: true, changed: true, jobId: 3, state: 'queued' })
    expect(run(t, launch(4, { dedupKey: 'k', at: T0 + DEDUP_WINDOW_MS + 1 }))[0]).toMatchObject({ jobId: 3, deduped: true })
  })

  it('prune drops final jobs ended before the retention and expired dedup keys, keeps the rest', () => {
    const t = createJobTable()
    run(t, launch(1, { dedupKey: 'a' }), launch(2), launch(3), cmd.assign(1, 'p', 1), cmd.ok(1, 1, T0 + 10), cmd.cancel(2, T0 + 20), cmd.assign(3, 'p', 1))
    expect(run(t, cmd.prune(T0 + 15, T0 + 100))[0]).toMatchObject({ ok: true, pruned: 1 })
    expect(t.list().map(j => j.jobId)).toEqual([3, 2])
    // The dedup key pointed at a pruned job: a new launch gets a new job.
    expect(run(t, launch(4, { dedupKey: 'a', at: T0 + 200 }))[0]).toMatchObject({ jobId: 4, changed: true })
  })

  it('lists by state, newest first, with a limit; placeable jobs by priority (9 first), FIFO within one', () => {
    const t = createJobTable()
    run(t, launch(1, { priority: 1 }), launch(2, { priority: 9 }), launch(3), launch(4, { priority: 9 }), launch(5), cmd.assign(5, 'p', 1), cmd.cancel(3))
    expect(t.placeable(T0).map(j => j.jobId)).toEqual([2, 4, 1])
    expect(t.list({ states: ['queued'], limit: 2 }).map(j => j.jobId)).toEqual([4, 2])
    expect(t.list({ states: ['assigned', 'cancelled'] }).map(j => j.jobId)).toEqual([5, 3])
    expect(t.counts()).toMatchObject({ queued: 3, assigned: 1, cancelled: 1, ready: 0 })
    expect(t.liveOn('p').map(j => j.jobId)).toEqual([5])
    expect([...t.liveCounts().perSeed]).toEqual([['example/factorial', 1]])
  })

  it('snapshot and restore round-trip the whole table, ids, terms and dedup keys included', () => {
    const t = createJobTable()
    const { ops } = randomHistory(7, 200)
    t.apply(batch(ops))
    const copy = new JobTable()
    copy.restore(t.snapshot())
    expect(copy.list()).toEqual(t.list())
    expect(copy.snapshot()).toEqual(t.snapshot())
    expect(copy.nextJobId()).toBe(t.nextJobId())
    expect(copy.term()).toBe(t.term())
    expect(copy.placeable(T0 + 1e9)).toEqual(t.placeable(T0 + 1e9))
    // And the restored copy goes on exactly like the original.
    const more = randomHistory(8, 100, t.nextJobId()).ops
    expect(copy.apply(batch(more))).toEqual(t.apply(batch(more)))
    expect(copy.snapshot()).toEqual(t.snapshot())
    expect(() => copy.restore(new Uint8Array([0xc0]))).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT' }))
  })

  it('is deterministic: two tables fed the same commands, batched differently, end byte-equal', () => {
    const { ops } = randomHistory(42, 500)
    const a = createJobTable()
    const b = createJobTable()
    const outA = ops.map(op => a.apply(op))
    const outB: unknown[] = []
    for (let i = 0; i < ops.length; i += 17) outB.push(...(b.apply(batch(ops.slice(i, i + 17))) as JobOutcome[]))
    expect(outB).toEqual(outA)
    expect(b.snapshot()).toEqual(a.snapshot())
    expect(a.size).toBeGreaterThan(0)
  })
})

/**
 * A random but replayable stream of commands over a few jobs and peers: mostly
 * legal (a shadow table tells the live attempt), some stale or refused.
 */
function randomHistory (seed: number, n: number, firstId = 1): { ops: JobOp[] } {
  const random = seededRandom(seed)
  const shadow = createJobTable()
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]
  const ops: JobOp[] = []
  let next = firstId
  let at = T0
  for (let i = 0; i < n; i++) {
    at += Math.floor(random() * 1_000)
    const id = firstId + Math.floor(random() * Math.max(1, next - firstId))
    const live = shadow.get(id)?.attempt ?? 0
    const attempt = random() < 0.85 ? Math.max(1, live) : 1 + Math.floor(random() * 3)
    const r = random()
    let op: JobOp
    if (r < 0.2) op = launch(next++, { at, priority: Math.floor(random() * 10), retries: pick([0, 1, 2]), dedupKey: random() < 0.2 ? pick(['x', 'y']) : undefined })
    else if (r < 0.4) op = cmd.assign(id, pick(['p1', 'p2', 'p3']), random() < 0.9 ? live + 1 : attempt, 1 + Math.floor(i / 100), at)
    else if (r < 0.5) op = cmd.started(id, attempt, at)
    else if (r < 0.6) op = cmd.ok(id, attempt, at, { i })
    else if (r < 0.7) op = cmd.fail(id, attempt, at, random() < 0.5 ? at + 500 : undefined)
    else if (r < 0.78) op = cmd.requeue(id, attempt, at)
    else if (r < 0.83) op = cmd.cancel(id, at)
    else if (r < 0.88) op = cmd.retry(id, at)
    else if (r < 0.99) op = cmd.progress(id, attempt, random(), at)
    else op = cmd.prune(at - 20_000, at)
    shadow.apply(op)
    ops.push(op)
  }
  return { ops }
}
