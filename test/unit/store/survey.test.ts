import { describe, expect, it, vi } from 'vitest'
import { PmzError } from '../../../src/common/errors.js'
import { encodeHlc } from '../../../src/common/hlc.js'
import type { ReplicaEntry } from '../../../src/store/record.js'
import { SURVEY_SPECULATE_MS } from '../../../src/store/replication/constants.js'
import { Placement, type Target } from '../../../src/store/replication/placement.js'
import type { ReadRepair, SurveyAnswer } from '../../../src/store/replication/read-repair.js'
import type { ReplicaClient } from '../../../src/store/replication/replica-client.js'
import { Survey } from '../../../src/store/replication/survey.js'
import { codeOf } from '../../helpers/errors.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { View } from '../../helpers/replica-cluster.js'
import { asKey } from '../../../src/store/index.js'

/** One question a survey put to a replica, answered (or failed) by the test. */
interface Ask {
  peerId: string
  kind: 'entry' | 'fetch'
  answer: (entry: ReplicaEntry | undefined, bytes?: Buffer) => void
  fail: (code?: string) => void
}

/** The two ReplicaClient reads a survey makes; every question waits for the test to answer it. */
class FakeReplicas {
  readonly asks: Ask[] = []

  async entry (t: Target, _key: string): Promise<ReplicaEntry | undefined> {
    return await new Promise((resolve, reject) => {
      this.asks.push({ peerId: t.peerId, kind: 'entry', answer: e => resolve(e), fail: code => reject(new PmzError('ERR_TIMEOUT', `${code ?? 'timeout'}`)) })
    })
  }

  async fetch (t: Target, _key: string): Promise<{ entry: ReplicaEntry | undefined, bytes?: Buffer }> {
    return await new Promise((resolve, reject) => {
      this.asks.push({ peerId: t.peerId, kind: 'fetch', answer: (entry, bytes) => resolve(bytes === undefined ? { entry } : { entry, bytes }), fail: code => reject(new PmzError('ERR_TIMEOUT', `${code ?? 'timeout'}`)) })
    })
  }

  /** Peer ids asked so far, in order. */
  asked (): string[] { return this.asks.map(a => a.peerId) }

  /** The question put to `peerId`. */
  to (peerId: string): Ask {
    const a = this.asks.find(x => x.peerId === peerId)
    if (a === undefined) throw new Error(`${peerId} was not asked`)
    return a
  }
}

const entry = (wall: number, key = '/s/k'): ReplicaEntry => ({ key: asKey(key), version: encodeHlc({ wall, logical: 0, peerId: 'a' }), deleted: false, deletedAt: null, size: 3, sha256: 'cd'.repeat(32), contentType: 'text/plain', created: 1, expires: null })

/** Lets queued promise continuations run. */
const flush = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** The outcome of `p` once it has come, 'pending' while it has not. */
async function peek<T> (p: Promise<T>): Promise<T | 'pending'> {
  return await Promise.race([p, flush().then(() => 'pending' as const)])
}

const ids = (answers: SurveyAnswer[]): string[] => answers.map(a => a.target.peerId).sort()

interface Setup { survey: Survey, replicas: FakeReplicas, clock: ManualClock, view: View, placement: Placement, schedule: ReturnType<typeof vi.fn>, settled: { value: boolean } }

/** A survey run by `self` over volume peers `peers` (N replicas, W write quorum), with a fake client and read repair. */
function setup (peers = ['a', 'b', 'c'], replicas = 3, writeQuorum = 2, self = 'a'): Setup {
  const view = new View()
  for (const id of peers) view.add(id)
  const placement = new Placement(view.membership(self), replicas, writeQuorum)
  placement.refresh()
  const replicasFake = new FakeReplicas()
  const clock = new ManualClock()
  const schedule = vi.fn()
  const settled = { value: true }
  const survey = new Survey({
    client: replicasFake as unknown as ReplicaClient,
    placement,
    repair: { schedule } as unknown as ReadRepair,
    clock,
    settled: () => settled.value
  })
  return { survey, replicas: replicasFake, clock, view, placement, schedule, settled }
}

/** A key of which `self` is a replica at position `at` of the preference list (or none, at = -1). */
function keyWhere (placement: Placement, self: string, at: number): string {
  for (let i = 0; ; i++) {
    const key = `/s/${i}`
    if (placement.preferenceList(asKey(key)).indexOf(self) === at) return key
  }
}

describe('Survey.run', () => {
  it('asks R = N - W + 1 live replicas, self first then by preference, when the ring is settled', async () => {
    const { survey, replicas, placement, schedule, clock } = setup()
    const key = keyWhere(placement, 'a', 2)
    const [p0, p1] = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    expect(replicas.asked()).toEqual(['a', p0])
    replicas.to('a').answer(entry(1))
    expect(await peek(out)).toBe('pending')
    replicas.to(p0).answer(undefined)
    const answers = await out
    expect(ids(answers)).toEqual(['a', p0].sort())
    expect(answers.find(a => a.target.peerId === 'a')?.entry).toEqual(entry(1))
    expect(answers.find(a => a.target.peerId === p0)?.entry).toBeUndefined()
    // Done: no timer left behind, no speculation, the third replica is never asked.
    expect(clock.pendingTimers()).toBe(0)
    clock.advance(SURVEY_SPECULATE_MS)
    await flush()
    expect(replicas.asked()).not.toContain(p1)
    expect(schedule).toHaveBeenCalledTimes(1)
  })

  it('asks R = 1 replica (self) with W = N, and all N with W = 1', async () => {
    const wAll = setup(['a', 'b', 'c'], 3, 3)
    const key = keyWhere(wAll.placement, 'a', 1)
    const one = wAll.survey.run(asKey(key), wAll.placement.targets(asKey(key)))
    await flush()
    expect(wAll.replicas.asked()).toEqual(['a'])
    wAll.replicas.to('a').answer(entry(1))
    expect(ids(await one)).toEqual(['a'])

    const wOne = setup(['a', 'b', 'c'], 3, 1)
    const all = wOne.survey.run(asKey(key), wOne.placement.targets(asKey(key)))
    await flush()
    expect(wOne.replicas.asked()).toHaveLength(3)
    wOne.replicas.to('a').answer(entry(1))
    wOne.replicas.to('b').answer(entry(1))
    expect(await peek(all)).toBe('pending')
    wOne.replicas.to('c').answer(entry(1))
    expect(ids(await all)).toEqual(['a', 'b', 'c'])
  })

  it('asks every live replica and waits for them all while the ring is not settled', async () => {
    const { survey, replicas, placement, settled } = setup()
    settled.value = false
    const key = keyWhere(placement, 'a', 0)
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    expect(replicas.asked()).toEqual(['a', ...placement.preferenceList(asKey(key)).slice(1)])
    replicas.asks[0].answer(entry(1))
    replicas.asks[1].answer(entry(1))
    expect(await peek(out)).toBe('pending')
    replicas.asks[2].answer(undefined)
    expect(ids(await out)).toEqual(['a', 'b', 'c'])
  })

  it('never asks a dead replica', async () => {
    const { survey, replicas, placement, view, settled } = setup()
    settled.value = false
    const key = keyWhere(placement, 'a', 0)
    const dead = placement.preferenceList(asKey(key))[1]
    view.set(dead, 'dead')
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    expect(replicas.asked()).not.toContain(dead)
    for (const a of replicas.asks) a.answer(entry(1))
    expect(ids(await out)).not.toContain(dead)
  })

  it('replaces a replica that fails by the next one', async () => {
    const { survey, replicas, placement } = setup()
    const key = keyWhere(placement, 'a', 0)
    const [, p1, p2] = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    expect(replicas.asked()).toEqual(['a', p1])
    replicas.to('a').answer(entry(1))
    replicas.to(p1).fail()
    await flush()
    expect(replicas.asked()).toEqual(['a', p1, p2])
    replicas.to(p2).answer(entry(1))
    expect(ids(await out)).toEqual(['a', p2].sort())
  })

  it('asks the others too once a replica has been slow for SURVEY_SPECULATE_MS', async () => {
    const { survey, replicas, placement, clock } = setup()
    const key = keyWhere(placement, 'a', 0)
    const [, p1, p2] = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    replicas.to('a').answer(entry(1))
    await flush()
    clock.advance(SURVEY_SPECULATE_MS - 1)
    await flush()
    expect(replicas.asked()).toEqual(['a', p1])
    clock.advance(1)
    await flush()
    expect(replicas.asked()).toEqual(['a', p1, p2])
    replicas.to(p2).answer(entry(1))
    expect(ids(await out)).toEqual(['a', p2].sort())
    expect(clock.pendingTimers()).toBe(0)
  })

  it('speculation asks every replica not yet asked (N = 5, W = 4: R = 2)', async () => {
    const { survey, replicas, placement, clock } = setup(['a', 'b', 'c', 'd', 'e'], 5, 4)
    const key = keyWhere(placement, 'a', 0)
    const list = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    expect(replicas.asked()).toEqual(list.slice(0, 2))
    clock.advance(SURVEY_SPECULATE_MS)
    await flush()
    expect(replicas.asked()).toEqual(list)
    replicas.to(list[4]).answer(entry(1))
    replicas.to(list[3]).answer(entry(1))
    expect(ids(await out)).toEqual([list[3], list[4]].sort())
  })

  it('resolves early on an answer that is enough', async () => {
    const { survey, replicas, placement } = setup()
    const key = keyWhere(placement, 'a', 0)
    const out = survey.run(asKey(key), placement.targets(asKey(key)), { enough: a => a.entry !== undefined && a.entry.version === entry(9).version })
    await flush()
    replicas.to('a').answer(entry(9))
    expect(ids(await out)).toEqual(['a'])
  })

  it('with fetch, asks one remote replica for the bytes when self is not a replica, the next one when it fails', async () => {
    const { survey, replicas, placement } = setup(['a', 'b', 'c', 'd'])
    const key = keyWhere(placement, 'a', -1)
    const [p0, p1, p2] = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)), { fetch: true })
    await flush()
    expect(replicas.asks.map(a => [a.peerId, a.kind])).toEqual([[p0, 'fetch'], [p1, 'entry']])
    replicas.to(p0).fail()
    await flush()
    // The bytes were not had: the replacement is asked for them.
    expect(replicas.asks.map(a => [a.peerId, a.kind])).toEqual([[p0, 'fetch'], [p1, 'entry'], [p2, 'fetch']])
    replicas.to(p1).answer(entry(1))
    replicas.to(p2).answer(entry(1), Buffer.from('abc'))
    const answers = await out
    expect(answers.find(a => a.target.peerId === p2)?.bytes?.toString()).toBe('abc')
    expect(answers.find(a => a.target.peerId === p1)?.bytes).toBeUndefined()
  })

  it('with fetch, asks no replica for bytes when self is one (the local read is cheap)', async () => {
    const { survey, replicas, placement, settled } = setup()
    settled.value = false
    const key = keyWhere(placement, 'a', 1)
    const out = survey.run(asKey(key), placement.targets(asKey(key)), { fetch: true })
    await flush()
    expect(replicas.asks.map(a => a.kind)).toEqual(['entry', 'entry', 'entry'])
    for (const a of replicas.asks) a.answer(entry(1))
    await out
  })

  it('rejects with ERR_QUORUM_NOT_MET (503) when fewer than R replicas answer', async () => {
    const { survey, replicas, placement } = setup()
    const key = keyWhere(placement, 'a', 0)
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    const code = codeOf(out)
    await flush()
    replicas.asks[0].answer(entry(1))
    replicas.asks[1].fail()
    await flush()
    replicas.asks[2].fail()
    expect(await code).toBe('ERR_QUORUM_NOT_MET')
    expect((await out.catch((e: PmzError) => e) as PmzError).status).toBe(503)

    // No live replica at all: nobody is asked.
    const none = setup(['a', 'b', 'c', 'd'])
    const k = keyWhere(none.placement, 'a', -1)
    for (const p of none.placement.preferenceList(asKey(k))) none.view.set(p, 'dead')
    expect(await codeOf(none.survey.run(asKey(k), none.placement.targets(asKey(k))))).toBe('ERR_QUORUM_NOT_MET')
    expect(none.replicas.asks).toEqual([])
  })

  it('schedules read repair once, over every answer, when all the replicas asked have answered or failed', async () => {
    const { survey, replicas, placement, clock, schedule } = setup()
    const key = keyWhere(placement, 'a', 0)
    const [, p1, p2] = placement.preferenceList(asKey(key))
    const out = survey.run(asKey(key), placement.targets(asKey(key)))
    await flush()
    clock.advance(SURVEY_SPECULATE_MS) // all three asked
    await flush()
    expect(replicas.asked()).toEqual(['a', p1, p2])
    replicas.to('a').answer(entry(1))
    replicas.to(p1).answer(entry(2))
    expect(ids(await out)).toEqual(['a', p1].sort())
    await flush()
    expect(schedule).not.toHaveBeenCalled() // p2 still out
    replicas.to(p2).answer(undefined)
    await flush()
    expect(schedule).toHaveBeenCalledTimes(1)
    const [k, answers, newest] = schedule.mock.calls[0] as [string, SurveyAnswer[], ReplicaEntry | undefined]
    expect(k).toBe(key)
    expect(ids(answers)).toEqual(['a', 'b', 'c'])
    expect(newest).toEqual(entry(2))
  })
})
