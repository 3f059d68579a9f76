import { describe, expect, it } from 'vitest'
import type { Target } from '../../../src/store/replication/placement.js'
import type { SurveyAnswer } from '../../../src/store/replication/read-repair.js'
import { openSurvey, step, type SurveyEvent, type SurveyInit, type SurveyStep } from '../../../src/store/replication/survey-rules.js'

const target = (peerId: string, isSelf = false): Target => ({ peerId, address: `${peerId}:1`, isSelf, isAlive: true, http: '' })
const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(id => target(id))
const self = target('s', true)

/** N = 3, W = 2: R = 2, the ring settled, no bytes wanted, unless told. */
const open = (init: Partial<SurveyInit> = {}): SurveyStep => openSurvey({ order: [a, b, c], r: 2, ringSettled: true, fetch: false, ...init })
const answer = (t: Target, more: { fetched?: boolean, enough?: boolean } = {}): SurveyEvent =>
  ({ type: 'answer', answer: { target: t, entry: undefined }, fetched: more.fetched ?? false, enough: more.enough ?? false })
const failure = (fetched = false): SurveyEvent => ({ type: 'failure', fetched })
const asked = (s: SurveyStep): string[] => s.effects.ask.map(q => q.target.peerId)
const peers = (answers: SurveyAnswer[] | undefined): string[] | undefined => answers?.map(x => x.target.peerId)

/** Runs events one after the other from `first`, returning every step. */
function run (first: SurveyStep, events: SurveyEvent[]): SurveyStep[] {
  const steps = [first]
  for (const e of events) steps.push(step(steps[steps.length - 1].state, e))
  return steps
}

describe('survey rules (a read survey as a state machine)', () => {
  it('asks R replicas in read order and arms the speculation timer; all of them while the ring is not settled', () => {
    const settled = open()
    expect(asked(settled)).toEqual(['a', 'b'])
    expect(settled.effects.timer).toBe('arm')
    expect(asked(open({ ringSettled: false }))).toEqual(['a', 'b', 'c'])
  })

  it('rejects at once when no replica is live, with no timer', () => {
    expect(open({ order: [] }).effects).toEqual({ ask: [], settle: { type: 'reject', answered: 0, needed: 2 } })
  })

  it('resolves once R answered, cancelling the timer; read repair waits for every question asked, later answers included', () => {
    const [, first, second, third] = run(open({ ringSettled: false }), [answer(a), answer(b), answer(c)])
    expect(first.effects).toEqual({ ask: [] })
    // Not settled: all three were wanted, so two are not enough yet.
    expect(second.effects).toEqual({ ask: [] })
    expect(third.effects).toMatchObject({ timer: 'cancel', settle: { type: 'resolve' } })
    expect(peers((third.effects.settle as { answers: SurveyAnswer[] }).answers)).toEqual(['a', 'b', 'c'])
    expect(peers(third.effects.repair)).toEqual(['a', 'b', 'c'])

    const [, x, y] = run(open(), [answer(b), answer(a)])
    expect(x.effects.settle).toBeUndefined()
    expect(y.effects).toMatchObject({ timer: 'cancel', settle: { type: 'resolve' }, repair: [{ target: b }, { target: a }] })
  })

  it('replaces a failed replica by the next one, and rejects when too few are left to answer', () => {
    const [, failed, late, last] = run(open(), [failure(), answer(a), failure()])
    expect(asked(failed)).toEqual(['c'])
    expect(late.effects).toEqual({ ask: [] })
    // Every replica asked: one answer of the two needed.
    expect(last.effects).toMatchObject({ ask: [], timer: 'cancel', settle: { type: 'reject', answered: 1, needed: 2 }, repair: [{ target: a }] })
  })

  it('asks every replica not yet asked when the timer fires, and nobody once settled', () => {
    const four = open({ order: [a, b, c, d] })
    const [, spec] = run(four, [{ type: 'speculate' }])
    expect(asked(spec)).toEqual(['c', 'd'])
    const [, , , afterAll] = run(four, [answer(a), answer(b), { type: 'speculate' }])
    expect(asked(afterAll)).toEqual([])
    // A failure after the survey resolved asks nobody either.
    const [, , resolved, late] = run(four, [answer(a), answer(b), failure()])
    expect(resolved.effects.settle?.type).toBe('resolve')
    expect(asked(late)).toEqual([])
  })

  it('resolves early on an answer that is enough alone; read repair still waits for the rest', () => {
    const [, one, two] = run(open(), [answer(a, { enough: true }), answer(b)])
    expect(one.effects).toMatchObject({ timer: 'cancel', settle: { type: 'resolve', answers: [{ target: a }] } })
    expect(one.effects.repair).toBeUndefined()
    expect(two.effects.settle).toBeUndefined()
    expect(peers(two.effects.repair)).toEqual(['a', 'b'])
  })

  it('wants the bytes from one remote replica, only when self holds no copy; a failed question for them passes it on', () => {
    expect(open({ fetch: true }).effects.ask).toEqual([{ target: a, fetch: true }, { target: b, fetch: false }])
    expect(open({ fetch: true, order: [self, a, b] }).effects.ask.every(q => !q.fetch)).toBe(true)
    const [, failed] = run(open({ fetch: true }), [failure(true)])
    expect(failed.effects.ask).toEqual([{ target: c, fetch: true }])
    // A plain question failing leaves the bytes with the replica already asked for them.
    const [, plain] = run(open({ fetch: true }), [failure(false)])
    expect(plain.effects.ask).toEqual([{ target: c, fetch: false }])
  })

  it('never changes the state it is given', () => {
    const first = open()
    const before = JSON.stringify(first.state)
    step(first.state, answer(a))
    step(first.state, failure())
    step(first.state, { type: 'speculate' })
    expect(JSON.stringify(first.state)).toBe(before)
  })
})
