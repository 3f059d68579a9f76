import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { TestCluster } from './cluster.js'

let cluster: TestCluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

describe('coordinator snapshots', () => {
  it('compacts the log and brings a lagging follower up with InstallSnapshot', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 11, coordinator: { snapshotThreshold: 50 } })
    await cluster.startAll()
    const leader = await cluster.leader()
    const lagging = ['a', 'b', 'c'].find(id => id !== leader.id) as string
    await cluster.crash(lagging)
    for (let batch = 0; batch < 6; batch++) {
      await cluster.run(Promise.all(Array.from({ length: 30 }, (_, i) => leader.coordinator!.propose({ op: 'set', key: `k${batch * 30 + i}`, value: i }))))
    }
    await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n', by: 7 }))
    const st = leader.coordinator!.status()
    expect(st.snapshotIndex).toBeGreaterThan(100)
    expect(st.logSize).toBeLessThan(60)
    expect(leader.storage.load().entries.length).toBe(st.logSize)
    // The lagging follower comes back with a log that ends before the leader's snapshot.
    const co = await cluster.start(lagging)
    await cluster.until(() => co.lastApplied() === leader.coordinator!.lastApplied(), 2_000)
    expect(co.status().snapshotIndex).toBeGreaterThanOrEqual(st.snapshotIndex)
    const m = cluster.peer(lagging).machine
    expect(m.counter('n')).toBe(7)
    expect(m.entries()).toEqual(leader.machine.entries())
    // And a restart restores the state machine from its own snapshot plus the rest of its log.
    await cluster.crash(lagging)
    const again = await cluster.start(lagging)
    expect(again.lastApplied()).toBeGreaterThanOrEqual(st.snapshotIndex)
    await cluster.until(() => again.lastApplied() === leader.coordinator!.lastApplied(), 2_000)
    expect(cluster.peer(lagging).machine.entries()).toEqual(leader.machine.entries())
  })
})

describe('coordinator snapshots of a big state', () => {
  it('compacts again only once the log holds as many bytes as the last snapshot (a big state is not re-snapshotted every few entries)', async () => {
    cluster = new TestCluster({ ids: ['a'], seed: 14, coordinator: { snapshotThreshold: 10 } })
    await cluster.startAll()
    const leader = await cluster.leader()
    const co = leader.coordinator!
    const big = 'x'.repeat(100_000)
    await cluster.run(co.propose({ op: 'set', key: 'big', value: big }))
    for (let i = 0; i < 12; i++) await cluster.run(co.propose({ op: 'incr', key: 'n' }))
    const first = co.status().snapshotIndex
    expect(first).toBeGreaterThan(0)
    // 40 more small entries: far past the entry threshold, far below the snapshot's 100 KB.
    for (let i = 0; i < 40; i++) await cluster.run(co.propose({ op: 'incr', key: 'n' }))
    expect(co.status().snapshotIndex).toBe(first)
    // As many bytes again as the snapshot holds: compacted.
    await cluster.run(co.propose({ op: 'set', key: 'big2', value: big }))
    expect(co.status().snapshotIndex).toBeGreaterThan(first)
    expect(co.status().logSize).toBe(0)
  })
})

describe('coordinator membership changes', () => {
  it('adds a voter (through a learner stage) and a learner, then removes one, one server at a time', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c', 'd', 'e'], voters: ['a', 'b', 'c'], seed: 12 })
    await cluster.startAll()
    const leader = await cluster.leader()
    for (let i = 0; i < 20; i++) await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n' }))
    expect(cluster.co('d').role()).toBe('learner')
    expect(cluster.co('d').lastApplied()).toBe(0)
    await cluster.run(leader.coordinator!.addVoter('d', 'd:1'))
    expect(Object.keys(leader.coordinator!.config().voters).sort()).toEqual(['a', 'b', 'c', 'd'])
    await cluster.until(() => cluster!.co('d').role() === 'follower' && cluster!.peer('d').machine.counter('n') === 20, 1_000)
    // A learner gets the log but never votes nor counts for the quorum.
    await cluster.run(cluster.co('d').addLearner('e', 'e:1')) // forwarded from a follower
    await cluster.until(() => cluster!.peer('e').machine.counter('n') === 20, 1_000)
    expect(cluster.co('e').role()).toBe('learner')
    expect(cluster.co('e').config().learners).toEqual({ e: 'e:1' })
    // Remove a follower: the remaining 3 of 4 commit without it.
    const gone = ['a', 'b', 'c'].find(id => id !== leader.id) as string
    await cluster.run(leader.coordinator!.removeVoter(gone))
    await cluster.crash(gone)
    const r = await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n' }))
    expect(r.result).toBe(21)
    expect(Object.keys(leader.coordinator!.status().voters)).toHaveLength(3)
    // Too many voters is refused clearly.
    await cluster.run(leader.coordinator!.addVoter('x', 'x:1', { timeoutMs: 500 })).then(() => expect.unreachable(), err => {
      expect(isPmzError(err, 'ERR_TIMEOUT')).toBe(true) // x does not exist: it never catches up as a learner
    })
  })

  it('a leader that removes itself steps down and the rest elect a new one', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 13 })
    await cluster.startAll()
    const leader = await cluster.leader()
    await cluster.run(leader.coordinator!.removeVoter(leader.id))
    await cluster.until(() => cluster!.leaders().some(p => p.id !== leader.id), 3_000)
    expect(leader.coordinator!.isLeader()).toBe(false)
    expect(leader.coordinator!.role()).toBe('learner')
    const next = cluster.leaders()[0]
    expect(Object.keys(next.coordinator!.config().voters)).toHaveLength(2)
    expect((await cluster.run(next.coordinator!.propose({ op: 'incr', key: 'n' }))).result).toBe(1)
  })

  it('refuses more than the maximum of voters', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], voters: ['a', 'b'], seed: 14, coordinator: { maxVoters: 2 } })
    await cluster.startAll()
    const leader = await cluster.leader()
    await cluster.run(leader.coordinator!.addLearner('c', 'c:1'))
    const o = await cluster.settle(leader.coordinator!.addVoter('c', 'c:1', { timeoutMs: 1_000 }))
    expect(o.ok).toBe(false)
    expect(isPmzError((o as { error: unknown }).error, 'ERR_CONFLICT')).toBe(true)
    expect(cluster.co('c').role()).toBe('learner')
  })
})
