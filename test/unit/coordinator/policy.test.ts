import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { ClusterConfigMachine, Fence, VoterManager, type ClusterConfig, type MemberView } from '../../../src/coordinator/index.js'
import type { VoteRequest } from '../../../src/coordinator/messages.js'
import { decideVote } from '../../../src/coordinator/vote-rules.js'

const member = (peerId: string, state: MemberView['state'] = 'alive', roles = ['coordinator'], clustered = false): MemberView =>
  ({ peerId, address: `${peerId}:1`, state, roles, clustered })
const cfg = (voters: string[], learners: string[] = []): ClusterConfig => ({
  voters: Object.fromEntries(voters.map(v => [v, `${v}:1`])),
  learners: Object.fromEntries(learners.map(v => [v, `${v}:1`]))
})

describe('VoterManager', () => {
  it('lets the lowest coordinator-role peer bootstrap after a quiet period, unless a cluster exists', () => {
    const b = new VoterManager({ selfId: 'b', bootstrapDelayMs: 1_000 }, 0)
    b.observe(member('c'), 0)
    b.observe(member('w', 'alive', ['worker']), 0) // not a coordinator: ignored
    expect(b.shouldBootstrap(500, false)).toBe(false) // too early
    expect(b.shouldBootstrap(1_000, false)).toBe(true)
    expect(b.shouldBootstrap(1_000, true)).toBe(false) // has a log already
    b.observe(member('a'), 1_100)
    expect(b.shouldBootstrap(2_200, false)).toBe(false) // a is lower
    b.observe(member('a', 'dead'), 2_300)
    expect(b.shouldBootstrap(2_400, false)).toBe(true) // a peer leaving does not restart the quiet period
    b.observe(member('d'), 2_500)
    expect(b.shouldBootstrap(3_000, false)).toBe(false) // a newcomer does
    expect(b.shouldBootstrap(3_500, false)).toBe(true)
    b.observe(member('c', 'alive', ['coordinator'], true), 3_500)
    expect(b.shouldBootstrap(3_600, false)).toBe(false) // c is in a cluster: wait to be added
  })

  it('grows the voters one at a time up to the maximum, then adds learners', () => {
    const m = new VoterManager({ selfId: 'a', maxVoters: 3 }, 0)
    for (const id of ['d', 'b', 'c', 'e']) m.observe(member(id), 0)
    m.observe(member('x', 'alive', ['volume']), 0)
    expect(m.nextChange(1, cfg(['a']))).toEqual({ op: 'addVoter', peerId: 'b', address: 'b:1' })
    expect(m.nextChange(1, cfg(['a', 'b']))).toEqual({ op: 'addVoter', peerId: 'c', address: 'c:1' })
    expect(m.nextChange(1, cfg(['a', 'b', 'c']))).toEqual({ op: 'addLearner', peerId: 'd', address: 'd:1' })
    expect(m.nextChange(1, cfg(['a', 'b', 'c'], ['d']))).toEqual({ op: 'addLearner', peerId: 'e', address: 'e:1' })
    expect(m.nextChange(1, cfg(['a', 'b', 'c'], ['d', 'e']))).toBeUndefined()
  })

  it('removes a voter dead for the grace period, then promotes a learner in its place', () => {
    const m = new VoterManager({ selfId: 'a', maxVoters: 3, deadGraceMs: 10_000 }, 0)
    for (const id of ['b', 'c', 'd']) m.observe(member(id), 0)
    const config = cfg(['a', 'b', 'c'], ['d'])
    m.observe(member('c', 'suspect'), 1_000)
    expect(m.nextChange(20_000, config)).toBeUndefined() // suspect is not dead
    m.observe(member('c', 'dead'), 2_000)
    expect(m.nextChange(11_000, config)).toBeUndefined() // within grace
    expect(m.nextChange(12_000, config)).toEqual({ op: 'removeVoter', peerId: 'c' })
    expect(m.nextChange(12_000, cfg(['a', 'b'], ['d']))).toEqual({ op: 'addVoter', peerId: 'd', address: 'd:1' })
    // It came back before removal: the dead clock restarts.
    m.observe(member('b', 'dead'), 13_000)
    m.observe(member('b'), 14_000)
    m.observe(member('b', 'dead'), 15_000)
    expect(m.nextChange(24_000, cfg(['a', 'b', 'd']))).toBeUndefined()
    expect(m.nextChange(25_000, cfg(['a', 'b', 'd']))).toEqual({ op: 'removeVoter', peerId: 'b' })
  })

  it('removes voters membership never mentions once the grace has passed, never itself', () => {
    const m = new VoterManager({ selfId: 'a', deadGraceMs: 5_000 }, 0)
    expect(m.nextChange(0, cfg(['a', 'ghost']))).toBeUndefined()
    expect(m.nextChange(5_000, cfg(['a', 'ghost']))).toEqual({ op: 'removeVoter', peerId: 'ghost' })
    m.observe(member('a', 'dead'), 0)
    expect(m.nextChange(100_000, cfg(['a']))).toBeUndefined()
  })
})

describe('Fence', () => {
  it('accepts the current and newer terms and refuses older ones with ERR_STALE_TERM', () => {
    const f = new Fence()
    f.checkTerm(3)
    f.checkTerm(3)
    f.checkTerm(5)
    expect(f.term).toBe(5)
    let err: unknown
    try { f.checkTerm(4) } catch (e) { err = e }
    expect(isPmzError(err, 'ERR_STALE_TERM')).toBe(true)
    expect((err as { status: number }).status).toBe(409)
    f.observe(9)
    expect(() => f.checkTerm(8)).toThrow()
  })
})

describe('ClusterConfigMachine', () => {
  it('sets, deletes and counts, and restores from its snapshot', () => {
    const m = new ClusterConfigMachine()
    expect(m.apply({ op: 'set', key: 'b', value: { x: 1 } })).toBe(true)
    expect(m.apply({ op: 'set', key: 'a', value: 'v' })).toBe(true)
    expect(m.apply({ op: 'incr', key: 'n' })).toBe(1)
    expect(m.apply({ op: 'incr', key: 'n', by: 10 })).toBe(11)
    expect(m.apply({ op: 'delete', key: 'b' })).toBe(true)
    expect(m.apply({ op: 'delete', key: 'b' })).toBe(false)
    expect(() => m.apply({ op: 'nope', key: 'x' } as never)).toThrow()
    const copy = new ClusterConfigMachine()
    copy.restore(m.snapshot())
    expect(copy.entries()).toEqual([['a', 'v']])
    expect(copy.counter('n')).toBe(11)
    expect(Buffer.from(copy.snapshot())).toEqual(Buffer.from(m.snapshot()))
  })
})

describe('vote rules', () => {
  const state = { term: 5, votedFor: null, lastLogIndex: 10, lastLogTerm: 4, hasLiveLeader: false, knowsLeader: false }
  const req = (over: Partial<VoteRequest>): VoteRequest => ({ type: 'raft.vote', v: 1, term: 6, pre: false, lastLogIndex: 10, lastLogTerm: 4, ...over })

  it('grants one vote per term, only to an up-to-date log, adopting a newer term', () => {
    expect(decideVote(state, req({}), 'x')).toEqual({ granted: true, term: 6, adoptTerm: 6 })
    expect(decideVote(state, req({ lastLogIndex: 9 }), 'x')).toMatchObject({ granted: false, adoptTerm: 6 })
    expect(decideVote(state, req({ lastLogIndex: 1, lastLogTerm: 5 }), 'x').granted).toBe(true) // a later last term wins
    expect(decideVote({ ...state, votedFor: 'y' }, req({ term: 5 }), 'x').granted).toBe(false)
    expect(decideVote({ ...state, votedFor: 'x' }, req({ term: 5 }), 'x').granted).toBe(true)
    expect(decideVote(state, req({ term: 4 }), 'x')).toEqual({ granted: false, term: 5 })
  })

  it('pre-votes change nothing, and a live leader makes a server ignore both kinds', () => {
    expect(decideVote(state, req({ pre: true }), 'x')).toEqual({ granted: true, term: 6 })
    expect(decideVote(state, req({ pre: true, lastLogTerm: 3 }), 'x')).toEqual({ granted: false, term: 5 })
    expect(decideVote({ ...state, hasLiveLeader: true, knowsLeader: true }, req({ pre: true }), 'x')).toEqual({ granted: false, term: 5 })
    expect(decideVote({ ...state, hasLiveLeader: true, knowsLeader: true }, req({ term: 9 }), 'x')).toEqual({ granted: false, term: 5 })
  })
})
