import { describe, expect, it } from 'vitest'
import { globToRegExp, placeWithBatches, type BatchLimits, type BatchPlacementInput, type BatchPlacementJob, type JobState, type WorkerView } from '../../../src/jobs/index.js'

const T0 = Date.UTC(2026, 0, 1)
const worker = (peerId: string, p: Partial<WorkerView> = {}): WorkerView => ({ peerId, seeds: new Map([['s', 'h']]), slots: 2, running: 0, load: 0, ...p })
const task = (jobId: number, key: string, p: Partial<BatchPlacementJob> = {}): BatchPlacementJob =>
  ({ jobId, seed: 's', seedHash: 'h', attempt: 0, batchId: 1, dataKey: key, ...p })
const limits = (p: Partial<BatchLimits> = {}): BatchLimits => ({ maxTries: 3, locality: 'soft', localityWaitMs: 1000, maxPending: 0, ...p })
/** Keys `/k/<peers>-n` are held by the peers named in them: `/k/ab-1` on a and b. */
const holders = (key: string): string[] => [...(/\/k\/(\w+)-/.exec(key)?.[1] ?? '')]
const pairs = (a: Array<{ jobId: number, peerId: string }>): string[] => a.map(x => `${x.jobId}@${x.peerId}`)

function input (jobs: BatchPlacementJob[], workers: WorkerView[], l: BatchLimits, p: Partial<BatchPlacementInput> = {}): BatchPlacementInput {
  return { jobs, workers, holders, now: T0, limitsOf: id => id === 1 ? l : undefined, active: [], ...p }
}
const live = (peerId: string, n: number, batchId = 1): Array<{ batchId: number, peerId: string, state: JobState }> =>
  Array.from({ length: n }, () => ({ batchId, peerId, state: 'running' as const }))

describe('batch placement (issue 16)', () => {
  it('puts each task on a replica of its key, least loaded among them', () => {
    const out = placeWithBatches(input([task(1, '/k/ab-1'), task(2, '/k/bc-2'), task(3, '/k/c-3')], [worker('a'), worker('b'), worker('c')], limits()))
    expect(pairs(out.assignments)).toEqual(['1@a', '2@b', '3@c'])
  })

  it('reads only the jobs it places while every slot ends up taken (a backlog of 10,000 tasks costs a pass nothing)', () => {
    let read = 0
    function * backlog (): IterableIterator<BatchPlacementJob> {
      for (let i = 1; i <= 10_000; i++) { read++; yield task(i, i % 2 === 0 ? '/k/ab-x' : '/k/bc-x') }
    }
    const out = placeWithBatches(input([], [worker('a'), worker('b'), worker('c')], limits({ maxPending: 5 }), { jobs: backlog(), pendingOf: () => 10_000 }))
    expect(out.assignments).toHaveLength(6)
    expect(read).toBeLessThan(10)
    expect(out.starved).toEqual(new Map())
  })

  it('hard locality: a task whose replicas are all busy waits, however long', () => {
    const l = limits({ locality: 'hard' })
    const workers = [worker('a', { running: 2 }), worker('b')]
    const out = placeWithBatches(input([task(1, '/k/a-1')], workers, l, { now: T0 + 3_600_000 }))
    expect(out.assignments).toEqual([])
    expect(out.wakeAt).toBeUndefined()
  })

  it('soft locality: a free worker takes a task off its replicas once the batch starved localityWaitMs; the driver is told when', () => {
    const workers = [worker('a', { running: 2 }), worker('b')]
    const first = placeWithBatches(input([task(1, '/k/a-1')], workers, limits(), { now: T0 }))
    expect(first.assignments).toEqual([])
    expect(first.starved).toEqual(new Map([[1, T0]]))
    expect(first.wakeAt).toBe(T0 + 1000)
    const early = placeWithBatches(input([task(1, '/k/a-1')], workers, limits(), { now: T0 + 999, starved: first.starved }))
    expect(early.assignments).toEqual([])
    expect(early.starved.get(1)).toBe(T0)
    const late = placeWithBatches(input([task(1, '/k/a-1')], workers, limits(), { now: T0 + 1000, starved: early.starved }))
    expect(pairs(late.assignments)).toEqual(['1@b'])
    // A batch that stops starving (no free worker) starts its wait again.
    const full = placeWithBatches(input([task(1, '/k/a-1')], [worker('a', { running: 2 }), worker('b', { running: 2 })], limits(), { now: T0 + 2000, starved: early.starved }))
    expect(full.starved.size).toBe(0)
    expect(full.wakeAt).toBeUndefined()
  })

  it('soft locality: however long a task waited, it does not leave its replicas while the free worker has local work', () => {
    // b has one free slot; task 1 (held on a only) comes first, task 2 is held on b.
    const workers = [worker('a', { running: 2 }), worker('b', { slots: 1 })]
    const out = placeWithBatches(input([task(1, '/k/a-1'), task(2, '/k/b-2')], workers, limits(), { now: T0 + 60_000, starved: new Map([[1, T0]]) }))
    expect(pairs(out.assignments)).toEqual(['2@b'])
  })

  it('maxWorkers: tasks of a batch go to at most that many peers at once, counting the live ones', () => {
    const workers = [worker('a', { slots: 4 }), worker('b', { slots: 4 }), worker('c', { slots: 4 })]
    const tasks = [1, 2, 3, 4, 5, 6].map(i => task(i, `/k/abc-${i}`))
    const one = placeWithBatches(input(tasks, workers, limits({ maxWorkers: 1 })))
    expect(new Set(one.assignments.map(a => a.peerId))).toEqual(new Set(['a']))
    expect(one.assignments).toHaveLength(4)
    // c already works on it: only c may take more.
    const busy = placeWithBatches(input(tasks, workers, limits({ maxWorkers: 1 }), { active: live('c', 1), workers: [worker('a', { slots: 4 }), worker('b', { slots: 4 }), worker('c', { slots: 4, running: 1 })] }))
    expect(new Set(busy.assignments.map(a => a.peerId))).toEqual(new Set(['c']))
    expect(busy.assignments).toHaveLength(3)
    // Another batch's live tasks do not count.
    const other = placeWithBatches(input(tasks, workers, limits({ maxWorkers: 2 }), { active: live('c', 4, 2) }))
    expect(new Set(other.assignments.map(a => a.peerId)).size).toBe(2)
  })

  it('maxWorkers binds soft-locality tasks that left their replicas too', () => {
    const workers = [worker('a', { running: 2 }), worker('b'), worker('c')]
    const out = placeWithBatches(input([task(1, '/k/a-1'), task(2, '/k/a-2')], workers, limits({ maxWorkers: 1 }), { now: T0 + 5000, starved: new Map([[1, T0]]) }))
    expect(new Set(out.assignments.map(a => a.peerId)).size).toBe(1)
  })

  it('perWorkerQueue: a worker takes that many tasks of the batch beyond its slots (queued there), least loaded first', () => {
    const workers = [worker('a', { slots: 2, running: 1 }), worker('b', { slots: 2 })]
    const tasks = [1, 2, 3, 4, 5, 6, 7, 8].map(i => task(i, `/k/ab-${i}`))
    const out = placeWithBatches(input(tasks, workers, limits({ perWorkerQueue: 2 }), { active: live('a', 1), ahead: 2 }))
    // a holds 1 of 2 + 2 ahead: 3 more; b 2 + 2: 4; the eighth waits.
    expect(out.assignments.filter(a => a.peerId === 'a')).toHaveLength(3)
    expect(out.assignments.filter(a => a.peerId === 'b')).toHaveLength(4)
    // 0: only into free slots; and a plain job never goes beyond the slots.
    const none = placeWithBatches(input(tasks, workers, limits({ perWorkerQueue: 0 }), { active: live('a', 1), ahead: 2 }))
    expect(none.assignments).toHaveLength(3)
    const plain = placeWithBatches(input(tasks.map(t => ({ ...t, batchId: undefined, dataKey: undefined })), workers, limits(), { ahead: 2 }))
    expect(plain.assignments).toHaveLength(3)
  })

  it('maxPending: a peer joins the batch only while more than maxPending tasks wait', () => {
    const workers = [worker('a', { slots: 2 }), worker('b', { slots: 2 })]
    const tasks = (n: number): BatchPlacementJob[] => Array.from({ length: n }, (_, i) => task(i + 1, `/k/ab-${i}`))
    // a takes the first; 2 left waiting is not more than 2: b stays out.
    expect(new Set(placeWithBatches(input(tasks(3), workers, limits({ maxPending: 2 }))).assignments.map(a => a.peerId))).toEqual(new Set(['a']))
    expect(new Set(placeWithBatches(input(tasks(4), workers, limits({ maxPending: 2 }))).assignments.map(a => a.peerId))).toEqual(new Set(['a', 'b']))
  })

  it('peers: only workers whose id matches the glob', () => {
    const workers = [worker('gpu-1'), worker('cpu-1'), worker('gpu-2')]
    const out = placeWithBatches(input([1, 2, 3, 4].map(i => task(i, `/k/x-${i}`, { dataKey: undefined })), workers, limits({ peers: 'gpu-*' })))
    expect(new Set(out.assignments.map(a => a.peerId))).toEqual(new Set(['gpu-1', 'gpu-2']))
    expect(globToRegExp('w?.a*').test('w1.abc')).toBe(true)
    expect(globToRegExp('w?.a*').test('w1xabc')).toBe(false)
  })

  it('a task that failed on a replica is placed on another replica first (an overrunning task restarts elsewhere)', () => {
    const t = task(1, '/k/ab-1', { attempt: 1, attempts: [{ peerId: 'a', outcome: 'failed' }] })
    expect(pairs(placeWithBatches(input([t], [worker('a'), worker('b', { running: 1 })], limits())).assignments)).toEqual(['1@b'])
  })

  it('leaves jobs that are not batch tasks to place() alone', () => {
    const plain = { jobId: 9, seed: 's', seedHash: 'h', attempt: 0 }
    const out = placeWithBatches(input([plain], [worker('a')], limits()))
    expect(pairs(out.assignments)).toEqual(['9@a'])
    expect(out.wakeAt).toBeUndefined()
  })
})
