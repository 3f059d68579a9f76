import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import { createJobTable } from '../../../src/jobs/index.js'
import { WaitingQueue, type Queued } from '../../../src/jobs/table/waiting-queue.js'
import { cmd, launch, run, T0 } from './fixtures.js'

const ids = (it: Iterable<{ jobId: number }>): number[] => [...it].map(j => j.jobId)

describe('waiting queue: placement order without sorting the backlog (issue 15)', () => {
  it('reads most urgent first, by seq within a priority, a job that came back merged by its seq', () => {
    const q = new WaitingQueue<Queued>()
    const job = (jobId: number, priority: number, seq: number): Queued => ({ jobId, priority, seq })
    const [a, b, c, d, e] = [job(1, 5, 1), job(2, 9, 2), job(3, 5, 3), job(4, 5, 4), job(5, 0, 5)]
    for (const j of [a, b, c, d, e]) q.add(j)
    q.delete(a)
    q.delete(c)
    expect(ids(q.ordered())).toEqual([2, 4, 5])
    q.add(c) // re-queued: older than 4, placed before it
    q.add(a)
    q.add(c) // twice is once
    expect(ids(q.ordered())).toEqual([2, 1, 3, 4, 5])
    expect(q.size).toBe(5)
    q.delete(c)
    q.delete(c)
    expect(q.size).toBe(4)
  })

  it('agrees with a full sort over a random history of adds and deletes', () => {
    const random = seededRandom(11)
    const q = new WaitingQueue<Queued>()
    const all: Queued[] = []
    const inQueue = new Set<Queued>()
    for (let step = 0; step < 2000; step++) {
      const r = random()
      if (r < 0.5 || all.length === 0) {
        const j = { jobId: all.length + 1, priority: Math.floor(random() * 3) * 4, seq: all.length + 1 }
        all.push(j)
        q.add(j)
        inQueue.add(j)
      } else {
        const j = all[Math.floor(random() * all.length)]
        if (r < 0.8) { q.delete(j); inQueue.delete(j) } else { q.add(j); inQueue.add(j) }
      }
    }
    const expected = [...inQueue].sort((x, y) => y.priority - x.priority || x.seq - y.seq)
    expect(ids(q.ordered())).toEqual(ids(expected))
    expect(q.size).toBe(inQueue.size)
  })

  it('the table places a re-queued job before newer ones, a retrying one after its backoff, and reads lazily', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2, { retries: 1 }), launch(3), cmd.assign(1, 'p', 1), cmd.assign(2, 'p', 1), cmd.requeue(1, 1), cmd.fail(2, 1, T0, T0 + 500))
    expect(t.placeable(T0).map(j => j.jobId)).toEqual([1, 3])
    expect(t.placeable(T0 + 500).map(j => j.jobId)).toEqual([1, 2, 3])
    expect(t.placeableInOrder(T0 + 500).next().value?.jobId).toBe(1)
    expect([...t.retryingJobs()].map(j => j.jobId)).toEqual([2])
    run(t, cmd.assign(3, 'q', 1))
    expect([...t.liveJobs()].map(j => j.jobId)).toEqual([3])
    expect(t.placeable(T0 + 500).map(j => j.jobId)).toEqual([1, 2])
  })
})
