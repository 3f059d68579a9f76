import { describe, expect, it } from 'vitest'
import { JobTable, batch, type BatchCreateCommand, type BatchTasksCommand, type JobOutcome } from '../../../src/jobs/index.js'
import { T0, cmd, run } from './fixtures.js'

const create = (p: Partial<BatchCreateCommand> = {}): BatchCreateCommand =>
  ({ type: 'batch.create', v: 1, at: T0, template: { seed: 'b/sha', seedHash: 'h1', args: { algo: 'sha256' } }, limits: { maxTries: 2, taskTimeoutMs: 500 }, prefix: '/p/', ...p })
const page = (batchId: number, keys: string[], done: boolean, after?: string, at = T0): BatchTasksCommand =>
  ({ type: 'batch.tasks', v: 1, at, batchId, keys, done, ...(after !== undefined ? { after } : {}) })
const one = (t: JobTable, op: Parameters<JobTable['apply']>[0]): JobOutcome => t.apply(op) as JobOutcome

describe('batches in the job table (issue 16)', () => {
  it('takes its id from the job ids and creates a task per explicit key in the same apply', () => {
    const t = new JobTable()
    run(t, { type: 'launch', v: 1, at: T0, seed: 's', seedHash: 'h' })
    const o = one(t, create({ prefix: undefined, keys: ['/a', '/b'] }))
    expect(o).toMatchObject({ ok: true, changed: true, jobId: 2 })
    const b = t.batch(2)
    expect(b).toMatchObject({ listed: true, tasks: 2, limits: { maxTries: 2, locality: 'soft', localityWaitMs: 2000, maxPending: 0 } })
    const tasks = t.batchTasks(2)
    expect(tasks.map(j => [j.jobId, j.dataKey, j.args.key, j.batchId])).toEqual([[3, '/a', '/a', 2], [4, '/b', '/b', 2]])
    // maxTries 2: one retry; taskTimeoutMs: the attempt's timeout; the batch's args plus the key.
    expect(tasks[0]).toMatchObject({ state: 'queued', seed: 'b/sha', args: { algo: 'sha256', key: '/a' }, limits: { retries: 1, timeoutMs: 500 } })
    expect(t.nextJobId()).toBe(5)
    expect(t.listingBatches()).toEqual([])
  })

  it('takes pages of a prefix batch only after its cursor, once each, until the last', () => {
    const t = new JobTable()
    expect(one(t, create())).toMatchObject({ ok: true, jobId: 1 })
    expect(t.listingBatches().map(b => b.batchId)).toEqual([1])
    expect(one(t, page(1, ['/p/a', '/p/b'], false))).toMatchObject({ ok: true, changed: true })
    // The same page again (a leader that proposed it twice) and a page from a stale cursor change nothing.
    expect(one(t, page(1, ['/p/a', '/p/b'], false))).toMatchObject({ ok: true, changed: false })
    expect(one(t, page(1, ['/p/c'], true, '/p/a'))).toMatchObject({ ok: true, changed: false })
    // Keys outside the prefix are left out.
    expect(one(t, page(1, ['/p/c', '/q/x'], true, '/p/b'))).toMatchObject({ ok: true, changed: true })
    expect(t.batchTasks(1).map(j => j.dataKey)).toEqual(['/p/a', '/p/b', '/p/c'])
    expect(t.batch(1)).toMatchObject({ listed: true, tasks: 3, cursor: '/q/x' })
    expect(t.listingBatches()).toEqual([])
    expect(one(t, page(1, ['/p/d'], true, '/q/x'))).toMatchObject({ ok: true, changed: false })
  })

  it('counts tries: a task fails once its maxTries attempts failed; an overrun (timeout) is one of them', () => {
    const t = new JobTable()
    one(t, create({ prefix: undefined, keys: ['/a'] }))
    run(t, cmd.assign(2, 'w1', 1), cmd.started(2, 1))
    run(t, { type: 'finished', v: 1, at: T0 + 600, jobId: 2, attempt: 1, ok: false, error: 'timeout' })
    expect(t.get(2)).toMatchObject({ state: 'queued', failures: 1 })
    run(t, cmd.assign(2, 'w2', 2), cmd.started(2, 2), cmd.fail(2, 2))
    expect(t.get(2)).toMatchObject({ state: 'failed', error: 'boom' })
    expect(t.get(2)?.attempts.map(a => [a.peerId, a.outcome])).toEqual([['w1', 'failed'], ['w2', 'failed']])
  })

  it('cancel stops the listing and cancels every task not ended (waiting at once, live ones through their worker)', () => {
    const t = new JobTable()
    one(t, create())
    one(t, page(1, ['/p/a', '/p/b', '/p/c'], false))
    run(t, cmd.assign(2, 'w1', 1), cmd.started(2, 1), cmd.ok(2, 1), cmd.assign(3, 'w1', 1), cmd.started(3, 1))
    expect(t.waitingTasks(1)).toBe(1)
    expect(one(t, cmd.cancel(1))).toMatchObject({ ok: true, changed: true, jobId: 1 })
    expect(t.batchTasks(1).map(j => j.state)).toEqual(['ready', 'cancelling', 'cancelled'])
    expect(t.waitingTasks(1)).toBe(0)
    // Restored from a snapshot, the count is rebuilt.
    const copy = new JobTable()
    copy.restore(t.snapshot())
    expect(copy.waitingTasks(1)).toBe(0)
    expect(t.listingBatches()).toEqual([])
    expect(one(t, page(1, ['/p/d'], true, '/p/c'))).toMatchObject({ changed: false })
    expect(one(t, cmd.cancel(1))).toMatchObject({ ok: true, changed: false })
  })

  it('retry re-drives only the failed tasks, with fresh budgets', () => {
    const t = new JobTable()
    one(t, create({ prefix: undefined, keys: ['/a', '/b'], limits: { maxTries: 1 } }))
    run(t, cmd.assign(2, 'w1', 1), cmd.started(2, 1), cmd.fail(2, 1), cmd.assign(3, 'w1', 1), cmd.started(3, 1), cmd.ok(3, 1))
    expect(t.batchTasks(1).map(j => j.state)).toEqual(['failed', 'ready'])
    expect(one(t, cmd.retry(1))).toMatchObject({ ok: true, changed: true })
    expect(t.batchTasks(1).map(j => [j.state, j.failures])).toEqual([['queued', 0], ['ready', 0]])
    expect(t.placeable(T0).map(j => j.jobId)).toEqual([2])
    expect(t.waitingTasks(1)).toBe(1)
    expect(one(t, cmd.retry(1))).toMatchObject({ ok: true, changed: false })
  })

  it('survives a snapshot and restore: batches, cursors and task lists', () => {
    const t = new JobTable()
    t.apply(batch([create(), page(1, ['/p/a', '/p/b'], false)]))
    one(t, create({ prefix: undefined, keys: ['/x'] }))
    const copy = new JobTable()
    copy.restore(t.snapshot())
    expect(copy.batch(1)).toEqual(t.batch(1))
    expect(copy.batchTasks(1).map(j => j.dataKey)).toEqual(['/p/a', '/p/b'])
    expect(copy.batchTasks(4).map(j => j.dataKey)).toEqual(['/x'])
    expect(copy.listingBatches().map(b => b.batchId)).toEqual([1])
    expect(one(copy, page(1, ['/p/c'], true, '/p/b'))).toMatchObject({ changed: true })
    expect(copy.nextJobId()).toBe(7)
  })

  it('prunes a batch once all its tasks are pruned', () => {
    const t = new JobTable()
    one(t, create({ prefix: undefined, keys: ['/a'] }))
    run(t, cmd.assign(2, 'w1', 1), cmd.started(2, 1), cmd.ok(2, 1, T0 + 10))
    run(t, cmd.prune(T0 + 5))
    expect(t.batch(1)).toBeDefined()
    run(t, cmd.prune(T0 + 20))
    expect(t.batch(1)).toBeUndefined()
    expect(t.get(2)).toBeUndefined()
  })

  it('answers a replayed create like the first (nonce) and refuses bad shapes', () => {
    const t = new JobTable()
    expect(one(t, create({ batchId: 1, nonce: 'n1' }))).toMatchObject({ ok: true, changed: true })
    expect(one(t, create({ batchId: 1, nonce: 'n1' }))).toMatchObject({ ok: true, changed: false })
    expect(one(t, create({ batchId: 1, nonce: 'n2' }))).toMatchObject({ ok: false, code: 'ERR_CONFLICT' })
    for (const bad of [
      create({ keys: ['/a'] }), create({ prefix: undefined }), create({ limits: { maxTries: 0 } }), create({ limits: { locality: 'near' as never } }),
      create({ limits: { maxWorkers: 0 } }), create({ template: { seed: '', seedHash: 'h', args: {} } })
    ]) expect(one(t, bad)).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
    expect(one(t, page(9, [], true))).toMatchObject({ ok: false, code: 'ERR_NOT_FOUND' })
    expect(one(t, { ...page(1, [], true), keys: [7] as never })).toMatchObject({ ok: false, code: 'ERR_BAD_REQUEST' })
  })
})
