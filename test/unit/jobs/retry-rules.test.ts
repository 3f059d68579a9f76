import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import { afterFailure, afterLoss, backoffMs, createJobTable, findLost, lossDeadline, nextWakeAt, retryAt } from '../../../src/jobs/index.js'
import { cmd, launch, run, T0 } from './fixtures.js'

const limits = (retries: number, maxLost = 3) => ({ retries, maxLost })

describe('retry rules (issue 14)', () => {
  it('backoff is exponential with full jitter: within [0, min(cap, base·2^(n-1))), spread over the range', () => {
    const random = seededRandom(1)
    for (let n = 1; n <= 20; n++) {
      const ceiling = Math.min(60_000, 100 * 2 ** (n - 1))
      const draws = Array.from({ length: 200 }, () => backoffMs(n, random, { baseMs: 100, capMs: 60_000 }))
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0)
      expect(Math.max(...draws)).toBeLessThan(ceiling)
      expect(Math.max(...draws)).toBeGreaterThan(ceiling * 0.8) // full jitter reaches the top of the range
      expect(Math.min(...draws)).toBeLessThan(ceiling * 0.2) // and the bottom
    }
    expect(backoffMs(1_000, () => 0.999999, { baseMs: 1_000, capMs: 5_000 })).toBe(4_999) // no overflow past the cap
    expect(backoffMs(3, seededRandom(9))).toBe(backoffMs(3, seededRandom(9))) // replayable
  })

  it('a failure is retried while failures stay within retries and it is retryable', () => {
    expect(afterFailure({ failures: 0, limits: limits(0) })).toBe('fail')
    expect(afterFailure({ failures: 0, limits: limits(2) })).toBe('retry')
    expect(afterFailure({ failures: 1, limits: limits(2) })).toBe('retry')
    expect(afterFailure({ failures: 2, limits: limits(2) })).toBe('fail')
    expect(afterFailure({ failures: 0, limits: limits(2) }, false)).toBe('fail')
    expect(afterLoss({ losses: 2, limits: limits(0, 3) })).toBe('requeue')
    expect(afterLoss({ losses: 3, limits: limits(0, 3) })).toBe('fail')
  })

  it('retryAt is now plus a backoff when the job will be retried, undefined when it will fail', () => {
    const at = retryAt({ failures: 1, limits: limits(3) }, T0, () => 0.5, { baseMs: 1_000, capMs: 10_000 })
    expect(at).toBe(T0 + 1_000) // second failure: half of 2 s
    expect(retryAt({ failures: 3, limits: limits(3) }, T0, () => 0.5)).toBeUndefined()
  })

  it('finds the live attempts of dead workers and of workers silent past the heartbeat timeout', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2), launch(3), launch(4), launch(5),
      cmd.assign(1, 'dead', 1, 1, T0), cmd.assign(2, 'alive', 1, 1, T0), cmd.started(2, 1, T0 + 1_000),
      cmd.assign(3, 'alive', 1, 1, T0), cmd.heartbeat(3, 1, T0 + 9_000), cmd.assign(4, 'alive', 1, 1, T0), cmd.cancel(4, T0 + 1))
    const lost = findLost(t.activeJobs(), { now: T0 + 11_500, isAlive: p => p !== 'dead', heartbeatTimeoutMs: 10_000 })
    expect(lost.sort((a, b) => a.jobId - b.jobId)).toEqual([
      { jobId: 1, attempt: 1, peerId: 'dead', reason: 'worker dead' },
      { jobId: 2, attempt: 1, peerId: 'alive', reason: 'worker silent' },
      { jobId: 4, attempt: 1, peerId: 'alive', reason: 'worker silent' } // cancelling: silent since the assignment
    ])
    // A leader elected at T0 + 5 s counts silence from its election only.
    expect(findLost(t.activeJobs(), { now: T0 + 11_500, isAlive: () => true, heartbeatTimeoutMs: 10_000, since: T0 + 5_000 })).toEqual([])
    // Fed back as requeue commands: the dead worker's job waits for another peer, the cancelled one ends.
    for (const l of lost) t.apply(cmd.requeue(l.jobId, l.attempt, T0 + 11_500, l.reason))
    expect([1, 2, 3, 4, 5].map(id => t.get(id)?.state)).toEqual(['queued', 'queued', 'assigned', 'cancelled', 'queued'])
    expect(t.get(1)?.attempts[0]).toMatchObject({ peerId: 'dead', outcome: 'lost', reason: 'worker dead', durationMs: 11_500 })
  })

  it('nextWakeAt is the earliest end of a backoff', () => {
    const t = createJobTable()
    run(t, launch(1, { retries: 1 }), launch(2, { retries: 1 }), cmd.assign(1, 'p', 1), cmd.assign(2, 'p', 1))
    expect(nextWakeAt(t.activeJobs())).toBeUndefined()
    run(t, cmd.fail(1, 1, T0, T0 + 900), cmd.fail(2, 1, T0, T0 + 400))
    expect(nextWakeAt(t.activeJobs())).toBe(T0 + 400)
  })
  it('an attempt an earlier leader assigned that has not started is lost soon after a new leader took over, not after the heartbeat timeout', () => {
    const t = createJobTable()
    run(t, launch(1), launch(2), launch(3), cmd.assign(1, 'w', 1, 2, T0), cmd.assign(2, 'w', 1, 2, T0), cmd.started(2, 1, T0 + 100), cmd.assign(3, 'w', 1, 3, T0 + 200))
    const rules = { heartbeatTimeoutMs: 10_000, since: T0 + 1_000, term: 3, startTimeoutMs: 2_000 }
    // Job 1: term 2, never started: its order may have died with the old leader. Job 2 started: the worker has it. Job 3: this leader's own order.
    expect([1, 2, 3].map(id => lossDeadline(t.get(id)!, rules))).toEqual([
      { at: T0 + 3_000, reason: 'not started' }, { at: T0 + 11_000, reason: 'worker silent' }, { at: T0 + 11_000, reason: 'worker silent' }
    ])
    expect(findLost(t.activeJobs(), { ...rules, now: T0 + 2_999, isAlive: () => true })).toEqual([])
    expect(findLost(t.activeJobs(), { ...rules, now: T0 + 3_001, isAlive: () => true })).toEqual([{ jobId: 1, attempt: 1, peerId: 'w', reason: 'not started' }])
    // Without the term (the rule is off), only the heartbeat timeout applies.
    expect(lossDeadline(t.get(1)!, { ...rules, term: undefined })).toEqual({ at: T0 + 11_000, reason: 'worker silent' })
  })
})
