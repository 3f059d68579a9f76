import { afterEach, describe, expect, it, vi } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { ELECTION_TIMEOUT_MS, HEARTBEAT_MS } from '../../../src/coordinator/constants.js'
import { TestCluster } from './cluster.js'

let cluster: TestCluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('coordinator election', () => {
  it('elects exactly one leader among 3 voters, known to all', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader(3_000)
    for (const id of ['a', 'b', 'c']) {
      expect(cluster.co(id).leader()).toEqual({ peerId: leader.id, address: leader.address, term: leader.coordinator?.term() })
    }
    // It stays the leader: heartbeats keep the followers from campaigning.
    const term = leader.coordinator?.term()
    await cluster.advance(5_000)
    expect(cluster.leaders().map(p => p.id)).toEqual([leader.id])
    expect(leader.coordinator?.term()).toBe(term)
  })

  it('an idle leader sends each follower one heartbeat per HEARTBEAT_MS, a third of the shortest election timeout, and keeps them through lost heartbeats', async () => {
    // Heartbeats are most of an idle cluster's messages: one every 150 ms, not 75.
    expect(HEARTBEAT_MS * 3).toBeLessThanOrEqual(ELECTION_TIMEOUT_MS)
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 3, lossRate: 0.1 })
    await cluster.startAll()
    const leader = await cluster.leader()
    const term = leader.coordinator?.term()
    const request = vi.spyOn(leader.transport!, 'request')
    await cluster.advance(30_000)
    const appends = request.mock.calls.filter(([, msg]) => msg.type === 'raft.append').length
    // 2 followers x 30 s / 150 ms = 400, fewer when a lost request holds back the next ones until its deadline.
    expect(appends).toBeGreaterThanOrEqual(320)
    expect(appends).toBeLessThanOrEqual(420)
    expect(cluster.leaders().map(p => p.id)).toEqual([leader.id])
    expect(leader.coordinator?.term()).toBe(term)
  })

  it('replaces a killed leader well within 3 s', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 2 })
    await cluster.startAll()
    const old = await cluster.leader()
    const oldTerm = old.coordinator?.term() as number
    const survivor = ['a', 'b', 'c'].find(id => id !== old.id) as string
    const seen = cluster.co(survivor).status().leaderChanges
    expect(seen).toBeGreaterThanOrEqual(1)
    await cluster.crash(old.id)
    const took = await cluster.until(() => cluster?.leaders().length === 1, 3_000)
    expect(took).toBeLessThan(1_500)
    const next = cluster.leaders()[0]
    expect(next.id).not.toBe(old.id)
    expect(next.coordinator?.term()).toBeGreaterThan(oldTerm)
    // The failover shows as one more leader change on a survivor (elections without a winner count nothing).
    await cluster.until(() => cluster?.co(survivor).leader()?.peerId === next.id, 1_000)
    expect(cluster.co(survivor).status().leaderChanges).toBe(seen + 1)
  })

  it('a single bootstrapped voter leads at once', async () => {
    cluster = new TestCluster({ ids: ['solo'] })
    await cluster.startAll()
    await cluster.advance(10)
    expect(cluster.co('solo').isLeader()).toBe(true)
    const r = await cluster.run(cluster.co('solo').propose({ op: 'incr', key: 'n' }))
    expect(r.result).toBe(1)
  })

  it('a minority partition never elects and its proposals fail with ERR_NO_COORDINATOR within the deadline', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c', 'd', 'e'], seed: 3 })
    await cluster.startAll()
    const leader = await cluster.leader()
    const ids = ['a', 'b', 'c', 'd', 'e']
    const others = ids.filter(id => id !== leader.id)
    // The old leader and one follower end up on the minority side.
    const minority = [leader.id, others[0]]
    const majority = others.slice(1)
    cluster.net.partition([minority.map(id => `${id}:1`), majority.map(id => `${id}:1`)])
    const started = cluster.clock.now()
    const onOldLeader = cluster.settle(cluster.co(leader.id).propose({ op: 'set', key: 'x', value: 1 }, { timeoutMs: 2_000 }))
    const onFollower = cluster.settle(cluster.co(others[0]).propose({ op: 'set', key: 'y', value: 1 }, { timeoutMs: 2_000 }))
    for (const outcome of [await onOldLeader, await onFollower]) {
      expect(outcome.ok).toBe(false)
      expect(isPmzError((outcome as { error: unknown }).error, 'ERR_NO_COORDINATOR')).toBe(true)
    }
    expect(cluster.clock.now() - started).toBeLessThanOrEqual(2_100)
    // The majority side elected a new leader; the minority side never has one (the old leader stepped down).
    await cluster.advance(3_000)
    const leaders = cluster.leaders().map(p => p.id)
    expect(leaders).toHaveLength(1)
    expect(majority).toContain(leaders[0])
    for (const id of minority) expect(cluster.co(id).isLeader()).toBe(false)
    const termsBefore = minority.map(id => cluster?.co(id).term())
    await cluster.advance(5_000)
    // Pre-vote: the minority does not inflate its terms while cut off.
    expect(minority.map(id => cluster?.co(id).term())).toEqual(termsBefore)
    // Healing: the minority rejoins without disrupting the leader.
    const leaderTerm = cluster.co(leaders[0]).term()
    cluster.net.heal()
    await cluster.advance(2_000)
    expect(cluster.leaders().map(p => p.id)).toEqual(leaders)
    expect(cluster.co(leaders[0]).term()).toBe(leaderTerm)
    for (const id of ids) expect(cluster.co(id).leader()?.peerId).toBe(leaders[0])
  })

  it('a leader cut off from its followers steps down (check-quorum)', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 4 })
    await cluster.startAll()
    const leader = await cluster.leader()
    cluster.net.partition([[leader.address], ['a:1', 'b:1', 'c:1'].filter(a => a !== leader.address)])
    await cluster.until(() => leader.coordinator?.isLeader() === false, 1_500)
    expect(leader.coordinator?.leader()).toBeUndefined()
  })

  it('rejects a stale term: a deposed leader steps down when it hears a newer one', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 5 })
    await cluster.startAll()
    const leader = await cluster.leader()
    const follower = ['a', 'b', 'c'].find(id => id !== leader.id) as string
    const t = cluster.peer(follower).transport
    // A message of the leader's term minus one is refused with the current term.
    const reply = await cluster.run(t!.request(leader.address, { type: 'raft.append', v: 1, term: (leader.coordinator?.term() as number) - 1, prevIndex: 0, prevTerm: 0, entries: [], leaderCommit: 0 }))
    expect(reply.msg).toMatchObject({ type: 'raft.append.reply', success: false, term: leader.coordinator?.term() })
    // A newer term makes the leader step down and follow.
    const newer = (leader.coordinator?.term() as number) + 5
    const r2 = await cluster.run(t!.request(leader.address, { type: 'raft.append', v: 1, term: newer, prevIndex: 0, prevTerm: 0, entries: [], leaderCommit: 0 }))
    expect(r2.msg).toMatchObject({ term: newer })
    expect(leader.coordinator?.isLeader()).toBe(false)
    expect(leader.coordinator?.term()).toBe(newer)
    // And a request with another wire version is refused outright.
    const bad = await cluster.settle(t!.request(leader.address, { type: 'raft.vote', v: 9, term: 1 }))
    expect(bad.ok).toBe(false)
    expect(isPmzError((bad as { error: unknown }).error, 'ERR_BAD_REQUEST')).toBe(true)
  })
})
