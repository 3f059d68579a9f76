import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { TestCluster } from './cluster.js'

let cluster: TestCluster | undefined
afterEach(async () => { await cluster?.stopAll(); cluster = undefined })

const logOf = (c: TestCluster, id: string): Array<[number, number, string]> =>
  c.peer(id).storage.load().entries.map(e => [e.index, e.term, e.type])

describe('coordinator log replication', () => {
  it('commits on the leader and applies on every voter in order', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader()
    const results = await cluster.run(Promise.all([
      leader.coordinator!.propose({ op: 'set', key: 'k1', value: 'v1' }),
      leader.coordinator!.propose({ op: 'incr', key: 'n' }),
      leader.coordinator!.propose({ op: 'incr', key: 'n', by: 5 })
    ]))
    expect(results.map(r => r.result)).toEqual([true, 1, 6])
    expect(results.map(r => r.index)).toEqual([results[0].index, results[0].index + 1, results[0].index + 2])
    await cluster.until(() => ['a', 'b', 'c'].every(id => cluster?.co(id).lastApplied() === results[2].index), 1_000)
    for (const id of ['a', 'b', 'c']) {
      expect(cluster.peer(id).machine.get('k1')).toBe('v1')
      expect(cluster.peer(id).machine.counter('n')).toBe(6)
    }
    expect(logOf(cluster, 'a')).toEqual(logOf(cluster, 'b'))
    expect(logOf(cluster, 'b')).toEqual(logOf(cluster, 'c'))
  })

  it('batches proposals made together into one log write', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader()
    const writes = leader.storage.writes
    const all = Array.from({ length: 100 }, (_, i) => leader.coordinator!.propose({ op: 'set', key: `k${i}`, value: i }))
    await cluster.run(Promise.all(all))
    expect(leader.storage.writes - writes).toBe(1)
  })

  it('batches into one log write the proposals of separate callbacks of one event-loop turn (group commit)', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader()
    const writes = leader.storage.writes
    // Each proposal from its own I/O-like callback, as concurrent HTTP requests make them: one immediate each, all in one check phase.
    const all = await new Promise<Array<Promise<unknown>>>(resolve => {
      const out: Array<Promise<unknown>> = []
      for (let i = 0; i < 10; i++) {
        setImmediate(() => {
          out.push(leader.coordinator!.propose({ op: 'set', key: `t${i}`, value: i }))
          if (out.length === 10) resolve(out)
        })
      }
    })
    await cluster.run(Promise.all(all))
    expect(leader.storage.writes - writes).toBe(1)
  })

  it('forwards a proposal made on a follower to the leader, or names the leader when told not to forward', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader()
    const follower = ['a', 'b', 'c'].find(id => id !== leader.id) as string
    const r = await cluster.run(cluster.co(follower).propose({ op: 'incr', key: 'jobs' }))
    expect(r.result).toBe(1)
    expect(leader.machine.counter('jobs')).toBe(1)
    const refused = await cluster.settle(cluster.co(follower).propose({ op: 'incr', key: 'jobs' }, { forward: false }))
    expect(refused.ok).toBe(false)
    const err = (refused as { error: unknown }).error
    expect(isPmzError(err, 'ERR_NO_COORDINATOR')).toBe(true)
    expect((err as { details: unknown }).details).toMatchObject({ leader: leader.id, address: leader.address })
    // A state machine error reaches the follower's caller with its code.
    const bad = await cluster.settle(cluster.co(follower).propose({ op: 'incr', key: 'jobs', by: 0.5 }))
    expect(isPmzError((bad as { error: unknown }).error, 'ERR_BAD_REQUEST')).toBe(true)
  })

  it('repairs a follower whose log diverged (uncommitted entries of a deposed leader are overwritten)', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 7 })
    await cluster.startAll()
    const old = await cluster.leader()
    await cluster.run(old.coordinator!.propose({ op: 'set', key: 'base', value: 0 }))
    // Isolate the leader; what it appends now can never commit.
    cluster.net.partition([[old.address], ['a:1', 'b:1', 'c:1'].filter(a => a !== old.address)])
    const doomed = Array.from({ length: 20 }, (_, i) => cluster!.settle(old.coordinator!.propose({ op: 'set', key: `lost${i}`, value: i }, { timeoutMs: 1_000 })))
    await cluster.advance(10)
    expect(old.storage.load().entries.length).toBeGreaterThan(20)
    for (const d of await Promise.all(doomed)) expect(d.ok).toBe(false)
    const next = await cluster.until(() => cluster!.leaders().some(p => p.id !== old.id), 3_000).then(() => cluster!.leaders().find(p => p.id !== old.id)!)
    for (let i = 0; i < 5; i++) await cluster.run(next.coordinator!.propose({ op: 'incr', key: 'n' }))
    cluster.net.heal()
    await cluster.until(() => old.coordinator!.lastApplied() === next.coordinator!.lastApplied() && old.coordinator!.leader()?.peerId === next.id, 3_000)
    expect(logOf(cluster, old.id)).toEqual(logOf(cluster, next.id))
    expect(old.machine.has('lost0')).toBe(false)
    expect(old.machine.counter('n')).toBe(5)
  })

  it('5 voters with 2 down still commit; with 3 down proposals fail clearly', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c', 'd', 'e'], seed: 8 })
    await cluster.startAll()
    let leader = await cluster.leader()
    const followers = ['a', 'b', 'c', 'd', 'e'].filter(id => id !== leader.id)
    await cluster.crash(followers[0])
    await cluster.crash(followers[1])
    expect((await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n' }))).result).toBe(1)
    // Kill the leader too: 2 of 5 remain, never a majority.
    await cluster.crash(leader.id)
    const survivors = followers.slice(2)
    const started = cluster.clock.now()
    const outcomes = await Promise.all(survivors.map(id => cluster!.settle(cluster!.co(id).propose({ op: 'incr', key: 'n' }, { timeoutMs: 2_000 }))))
    for (const o of outcomes) {
      expect(o.ok).toBe(false)
      expect(isPmzError((o as { error: unknown }).error, 'ERR_NO_COORDINATOR')).toBe(true)
    }
    expect(cluster.clock.now() - started).toBeLessThanOrEqual(2_050)
    // Back to 3: a leader again, and the counter continues where it was.
    await cluster.start(followers[0])
    leader = await cluster.leader(5_000)
    expect((await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n' }))).result).toBe(2)
  })

  it('a restarted voter keeps its term, vote and log', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'], seed: 9 })
    await cluster.startAll()
    const leader = await cluster.leader()
    for (let i = 0; i < 10; i++) await cluster.run(leader.coordinator!.propose({ op: 'incr', key: 'n' }))
    const follower = ['a', 'b', 'c'].find(id => id !== leader.id) as string
    await cluster.until(() => cluster!.co(follower).lastApplied() === leader.coordinator!.lastApplied(), 1_000)
    const before = { term: cluster.co(follower).term(), log: logOf(cluster, follower), hard: cluster.peer(follower).storage.load().hard }
    await cluster.crash(follower)
    const co = await cluster.start(follower)
    expect(co.term()).toBe(before.term)
    expect(cluster.peer(follower).storage.load().hard).toEqual(before.hard)
    expect(logOf(cluster, follower)).toEqual(before.log)
    // Its fresh state machine catches up by replaying the committed log.
    await cluster.until(() => co.lastApplied() === leader.coordinator!.lastApplied(), 1_000)
    expect(cluster.peer(follower).machine.counter('n')).toBe(10)
  })

  it('serves linearizable reads on the leader and on followers', async () => {
    cluster = new TestCluster({ ids: ['a', 'b', 'c'] })
    await cluster.startAll()
    const leader = await cluster.leader()
    const w = await cluster.run(leader.coordinator!.propose({ op: 'set', key: 'x', value: 42 }))
    for (const id of ['a', 'b', 'c']) {
      const r = await cluster.run(cluster.co(id).read())
      expect(r.index).toBeGreaterThanOrEqual(w.index)
      expect(cluster.peer(id).machine.get('x')).toBe(42)
    }
  })
})
