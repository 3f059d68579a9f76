import { describe, expect, it } from 'vitest'
import { place, type PlacementJob, type WorkerView } from '../../../src/jobs/index.js'

const job = (jobId: number, p: Partial<PlacementJob> = {}): PlacementJob => ({ jobId, seed: 's', seedHash: 'h', attempt: 0, ...p })
const worker = (peerId: string, p: Partial<WorkerView> = {}): WorkerView =>
  ({ peerId, seeds: new Map([['s', 'h'], ['t', 'h']]), slots: 2, running: 0, load: 0, ...p })
const pairs = (a: Array<{ jobId: number, peerId: string }>): string[] => a.map(x => `${x.jobId}@${x.peerId}`)

describe('placement rules (issue 14)', () => {
  it('puts each job on the least loaded worker: running per slot, then load average, then peer id', () => {
    expect(pairs(place({ jobs: [job(1)], workers: [worker('a', { running: 1 }), worker('b')] }))).toEqual(['1@b'])
    // One job on four slots is less busy than one on two.
    expect(pairs(place({ jobs: [job(1)], workers: [worker('a', { running: 1, slots: 2 }), worker('b', { running: 1, slots: 4 })] }))).toEqual(['1@b'])
    expect(pairs(place({ jobs: [job(1)], workers: [worker('a', { load: 0.9 }), worker('b', { load: 0.2 })] }))).toEqual(['1@b'])
    expect(pairs(place({ jobs: [job(1)], workers: [worker('b'), worker('a')] }))).toEqual(['1@a'])
  })

  it('spreads a burst across workers and never beyond their slots', () => {
    const out = place({ jobs: [1, 2, 3, 4, 5, 6].map(i => job(i)), workers: [worker('a'), worker('b', { running: 1 })] })
    expect(pairs(out)).toEqual(['1@a', '2@a', '3@b']) // a: 0/2 → 1/2 ties b at 1/2 (a wins by id) → 2/2; b takes the last slot
    expect(out.every(a => a.attempt === 1)).toBe(true)
  })

  it('only uses peers holding the seed at the job\'s hash', () => {
    const workers = [worker('a', { seeds: new Map([['s', 'old']]) }), worker('b', { seeds: new Map() }), worker('c', { running: 1 })]
    expect(pairs(place({ jobs: [job(1)], workers }))).toEqual(['1@c'])
    expect(place({ jobs: [job(1)], workers: workers.slice(0, 2) })).toEqual([])
  })

  it('holds a seed\'s concurrency cluster-wide, counting what runs already', () => {
    const workers = [worker('a', { slots: 8 }), worker('b', { slots: 8 })]
    const jobs = [1, 2, 3, 4].map(i => job(i))
    expect(place({ jobs, workers, concurrency: new Map([['s', 3]]) })).toHaveLength(3)
    expect(pairs(place({ jobs, workers, concurrency: new Map([['s', 3]]), runningPerSeed: new Map([['s', 2]]) }))).toEqual(['1@a'])
  })

  it('runs a job with a data key only on a peer that holds the key', () => {
    const holders = (key: string): string[] | undefined => key === '/d/x.png' ? ['c'] : undefined
    const workers = [worker('a'), worker('b'), worker('c', { running: 1, load: 5 })]
    expect(pairs(place({ jobs: [job(1, { dataKey: '/d/x.png' }), job(2)], workers, holders }))).toEqual(['1@c', '2@a'])
    expect(place({ jobs: [job(1, { dataKey: '/d/unknown' })], workers, holders })).toEqual([])
  })

  it('puts a job with a data key on the least loaded of the key\'s replicas', () => {
    const holders = (key: string): string[] => key === '/d/x.bin' ? ['b', 'c', 'e'] : []
    // a is idle but holds no copy; c is less busy than b; e is not a worker (a volume-only peer).
    const workers = [worker('a'), worker('b', { running: 1 }), worker('c', { slots: 4, running: 1 }), worker('d')]
    expect(pairs(place({ jobs: [job(1, { dataKey: '/d/x.bin' })], workers, holders }))).toEqual(['1@c'])
    // A burst of them fills the replicas' slots, least loaded first, and never spills onto a peer without the key.
    const burst = place({ jobs: [1, 2, 3, 4, 5, 6].map(i => job(i, { dataKey: '/d/x.bin' })), workers, holders })
    expect(pairs(burst)).toEqual(['1@c', '2@b', '3@c', '4@c']) // c 1/4 → 2/4 ties b 1/2 (b wins by id) → b full; c takes the rest
  })

  it('leaves a job with a data key queued while no replica can take it, and places it once one can', () => {
    const holders = (): string[] => ['b']
    const jobs = [job(1, { dataKey: '/d/x.bin' }), job(2)]
    // b is full (or not alive: absent from the workers); job 2 still goes to a.
    expect(pairs(place({ jobs, workers: [worker('a'), worker('b', { running: 2 })], holders }))).toEqual(['2@a'])
    expect(pairs(place({ jobs, workers: [worker('a')], holders }))).toEqual(['2@a'])
    // Without a locator no peer counts as holding the key.
    expect(pairs(place({ jobs, workers: [worker('a'), worker('b')] }))).toEqual(['2@a'])
    expect(pairs(place({ jobs, workers: [worker('a'), worker('b', { running: 1 })], holders }))).toEqual(['1@b', '2@a'])
  })

  it('takes jobs in the order given (priority, FIFO) and does not let a stuck one block the rest', () => {
    const workers = [worker('a', { slots: 1, seeds: new Map([['t', 'h']]) }), worker('b', { slots: 1 })]
    // Job 1 (seed s) fits only b; job 2 (seed u) fits nobody; job 3 (seed t) takes a; job 4 finds no slot left.
    const jobs = [job(1), job(2, { seed: 'u' }), job(3, { seed: 't' }), job(4)]
    expect(pairs(place({ jobs, workers }))).toEqual(['1@b', '3@a'])
    const full = place({ jobs: [job(5), job(6, { seed: 't' })], workers: [worker('a', { slots: 1, running: 1 }), worker('b', { slots: 1 })] })
    expect(pairs(full)).toEqual(['5@b'])
  })

  it('prefers a peer where the job did not fail or get lost before, but uses it when nothing else fits', () => {
    const attempts = [{ peerId: 'a', outcome: 'lost' }]
    expect(pairs(place({ jobs: [job(1, { attempt: 1, attempts })], workers: [worker('a'), worker('b', { running: 1 })] }))).toEqual(['1@b'])
    const out = place({ jobs: [job(1, { attempt: 1, attempts })], workers: [worker('a'), worker('b', { running: 2 })] })
    expect(out).toEqual([{ jobId: 1, peerId: 'a', attempt: 2 }])
  })

  it('places nothing without workers or slots', () => {
    expect(place({ jobs: [job(1)], workers: [] })).toEqual([])
    expect(place({ jobs: [job(1)], workers: [worker('a', { slots: 0 })] })).toEqual([])
  })
})
