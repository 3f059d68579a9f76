import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { seededRandom } from '../../../../src/common/random.js'
import {
  JobTable, JobsDriver, type AssignMessage, type JobCommand, type JobResult, type JobsCoordinator, type JobsMessage, type WorkerPeer
} from '../../../../src/jobs/index.js'
import type { ClusterSeed } from '../../../../src/seeds/index.js'
import { ManualClock } from '../../../helpers/manual-clock.js'
import { launch } from '../fixtures.js'

const log = createLogger({ level: 'silent' })

/** A leader applying proposals at once to a real table, and everything around the driver as fakes. */
function harness (workers: WorkerPeer[], holders: Record<string, string[]>, replicas: Record<string, string[]> = {}, limits: Record<string, ClusterSeed['limits']> = {}) {
  const clock = new ManualClock()
  const table = new JobTable()
  const applied: Array<(c: JobCommand) => void> = []
  const leaders: Array<() => void> = []
  const changes: Array<() => void> = []
  const state = { leader: true, term: 3, dead: new Set<string>(), unreachable: new Set<string>() }
  const sent: Array<{ to: string, msg: JobsMessage }> = []
  const proposed: JobCommand[] = []
  const coordinator: JobsCoordinator = {
    isLeader: () => state.leader,
    term: () => state.term,
    async propose (command) {
      proposed.push(command)
      const result = table.apply(command) as JobResult
      for (const fn of applied) fn(command)
      return { result }
    },
    read: async () => undefined,
    onLeaderChange: fn => { leaders.push(() => fn({ type: 'leader:change', leader: undefined })); return () => {} },
    onApplied: fn => { applied.push(fn); return () => {} }
  }
  const seed = (name: string, hash: string, peers: string[]): ClusterSeed =>
    ({ name, kind: 'module', hash, meta: { description: '', args: '', category: '', author: '' }, peers, hashes: { [hash]: peers }, errors: {}, launchable: true, limits: {} })
  const driver = new JobsDriver({
    coordinator,
    table,
    catalog: { list: () => Object.entries(holders).map(([name, peers]) => ({ ...seed(name, 'h1', peers), limits: limits[name] ?? {} })), on: () => () => {} },
    directory: {
      workers: () => workers.filter(w => !state.dead.has(w.peerId)),
      isAlive: id => !state.dead.has(id),
      onChange: fn => { changes.push(fn); return () => {} }
    },
    mesh: {
      async request (to, msg) {
        if (state.unreachable.has(to)) throw new Error('unreachable')
        sent.push({ to, msg })
        return { msg: { type: 'jobs.ack' } }
      }
    },
    data: { replicasOf: key => replicas[key] ?? [] },
    clock, random: seededRandom(1), log
  }, { heartbeatTimeoutMs: 10_000 })
  const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await Promise.resolve() }
  return { clock, table, driver, state, sent, proposed, membershipChanged: () => changes.forEach(f => f()), leaderChanged: () => leaders.forEach(f => f()), coordinator, settle }
}

const W = (peerId: string, slots = 2): WorkerPeer => ({ peerId, address: `${peerId}:1`, slots, load: 0 })

describe('JobsDriver', () => {
  it('assigns a launched job to the peer holding its seed, with the leader\'s term, and sends it', async () => {
    const h = harness([W('a'), W('b')], { 'example/factorial': ['b'] })
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    expect(h.table.get(1)).toMatchObject({ state: 'assigned', peerId: 'b', term: 3, attempt: 1 })
    expect(h.sent).toHaveLength(1)
    expect(h.sent[0]).toMatchObject({ to: 'b:1', msg: { type: 'jobs.assign', v: 1, term: 3, jobId: 1, attempt: 1, seed: 'example/factorial', seedHash: 'h1', args: { number: 5 } } })
    await h.driver.stop()
  })

  it('tells the worker which schedule and tick fired a job', async () => {
    const h = harness([W('a')], { 'example/factorial': ['a'] })
    await h.driver.start()
    const tick = h.clock.now() - 1000
    await h.coordinator.propose(launch(1, { at: h.clock.now(), scheduleId: 7, firedAt: tick }))
    await h.coordinator.propose(launch(2, { at: h.clock.now() }))
    await h.settle()
    expect(h.sent.find(s => (s.msg as AssignMessage).jobId === 1)?.msg).toMatchObject({ type: 'jobs.assign', scheduleId: 7, firedAt: tick })
    expect(h.sent.find(s => (s.msg as AssignMessage).jobId === 2)?.msg).not.toHaveProperty('scheduleId')
    await h.driver.stop()
  })

  it('does nothing while not the leader', async () => {
    const h = harness([W('a')], { 'example/factorial': ['a'] })
    h.state.leader = false
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    expect(h.table.get(1)?.state).toBe('queued')
    expect(h.sent).toHaveLength(0)
  })

  it('batches the assignments of a pass in one entry and respects slots', async () => {
    const h = harness([W('a', 2)], { 'example/factorial': ['a'] })
    for (let i = 1; i <= 3; i++) h.table.apply(launch(i, { at: h.clock.now() }))
    await h.driver.start()
    await h.settle()
    const batches = h.proposed.filter(c => c.type === 'batch')
    expect(batches).toHaveLength(1)
    expect(h.table.liveOn('a')).toHaveLength(2)
    expect(h.table.get(3)?.state).toBe('queued')
  })

  it('holds a seed\'s declared concurrency cluster-wide', async () => {
    const h = harness([W('a', 4), W('b', 4)], { 'example/factorial': ['a', 'b'] }, {}, { 'example/factorial': { concurrency: 1 } })
    for (let i = 1; i <= 3; i++) h.table.apply(launch(i, { at: h.clock.now() }))
    await h.driver.start()
    await h.settle()
    expect([1, 2, 3].map(id => h.table.get(id)?.state)).toEqual(['assigned', 'queued', 'queued'])
    await h.coordinator.propose({ type: 'finished', v: 1, at: h.clock.now(), jobId: 1, attempt: 1, ok: true })
    await h.settle()
    expect([1, 2, 3].map(id => h.table.get(id)?.state)).toEqual(['ready', 'assigned', 'queued'])
  })

  it('re-queues the attempt of a dead worker and places it elsewhere', async () => {
    const h = harness([W('a'), W('b')], { 'example/factorial': ['a', 'b'] })
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    const first = h.table.get(1)!.peerId!
    h.state.dead.add(first)
    h.membershipChanged()
    await h.settle()
    expect(h.table.get(1)).toMatchObject({ state: 'assigned', attempt: 2 })
    expect(h.table.get(1)!.peerId).not.toBe(first)
    expect(h.table.get(1)!.attempts[0]).toMatchObject({ outcome: 'lost', reason: 'worker dead' })
  })

  it('re-queues a silent attempt once the heartbeat timeout passes (timer, no tick)', async () => {
    const h = harness([W('a')], { 'example/factorial': ['a'] })
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    await h.clock.advanceAsync(9_000)
    await h.settle()
    expect(h.table.get(1)?.attempt).toBe(1)
    await h.clock.advanceAsync(2_000)
    await h.settle()
    expect(h.table.get(1)!.attempts[0]).toMatchObject({ outcome: 'lost', reason: 'worker silent' })
    expect(h.table.get(1)?.attempt).toBe(2)
  })

  it('re-queues an assignment the worker could not be sent', async () => {
    const h = harness([W('a')], { 'example/factorial': ['a'] })
    h.state.unreachable.add('a:1')
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    expect(h.table.get(1)!.attempts[0].outcome).toBe('lost')
    expect(h.table.get(1)!.attempts[0].reason).toContain('assignment not delivered')
  })

  it('tells the worker to cancel a live attempt', async () => {
    const h = harness([W('a')], { 'example/factorial': ['a'] })
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now() }))
    await h.settle()
    await h.coordinator.propose({ type: 'cancel', v: 1, at: h.clock.now(), jobId: 1 })
    await h.settle()
    expect(h.sent.map(s => s.msg.type)).toEqual(['jobs.assign', 'jobs.cancel'])
    expect((h.sent[1].msg as AssignMessage).term).toBe(3)
  })

  it('sends a job with pulzar_data to a replica of the key, with the key; waits while none is a worker and starts when one appears', async () => {
    const workers = [W('a'), W('b')]
    const h = harness(workers, { 'example/factorial': ['a', 'b', 'c'] }, { '/d/x.bin': ['b', 'c'] })
    h.state.dead.add('b')
    await h.driver.start()
    await h.coordinator.propose(launch(1, { at: h.clock.now(), dataKey: '/d/x.bin' }))
    await h.coordinator.propose(launch(2, { at: h.clock.now() }))
    await h.settle()
    expect(h.table.get(1)?.state).toBe('queued')
    expect(h.table.get(2)).toMatchObject({ state: 'assigned', peerId: 'a' })
    // c, the other replica, joins as a worker: membership kicks the driver.
    workers.push(W('c'))
    h.membershipChanged()
    await h.settle()
    expect(h.table.get(1)).toMatchObject({ state: 'assigned', peerId: 'c' })
    expect(h.sent.find(s => s.to === 'c:1')?.msg).toMatchObject({ type: 'jobs.assign', jobId: 1, dataKey: '/d/x.bin' })
    expect(h.sent.find(s => s.to === 'a:1')?.msg).not.toHaveProperty('dataKey')
  })

  it('a new leader re-queues an attempt its predecessor committed but never sent, soon (not after the heartbeat timeout), without counting a loss', async () => {
    const h = harness([W('a'), W('b')], { 'example/factorial': ['a', 'b'] })
    // The old leader (term 2) committed the assignment and died before sending it.
    h.table.apply(launch(1, { at: h.clock.now(), maxLost: 0 }))
    h.table.apply({ type: 'assign', v: 1, at: h.clock.now(), jobId: 1, peerId: 'a', attempt: 1, term: 2 })
    h.table.apply(launch(2, { at: h.clock.now() }))
    h.table.apply({ type: 'assign', v: 1, at: h.clock.now(), jobId: 2, peerId: 'b', attempt: 1, term: 2 })
    h.table.apply({ type: 'started', v: 1, at: h.clock.now(), jobId: 2, attempt: 1 }) // this one reached its worker
    await h.clock.advanceAsync(500)
    await h.driver.start()
    h.leaderChanged() // elected, term 3
    await h.settle()
    expect(h.sent).toHaveLength(0)
    await h.clock.advanceAsync(1_900)
    await h.settle()
    expect(h.table.get(1)?.attempt).toBe(1) // its start may still be on its way
    await h.clock.advanceAsync(200)
    await h.settle()
    expect(h.table.get(1)).toMatchObject({ state: 'assigned', attempt: 2, term: 3, losses: 0 })
    expect(h.table.get(1)!.attempts[0]).toMatchObject({ outcome: 'lost', reason: 'not started' })
    expect(h.sent.map(s => (s.msg as AssignMessage).jobId)).toEqual([1])
    expect(h.table.get(2)).toMatchObject({ state: 'running', attempt: 1 })
  })

  it('leaves a worker an assignment could not be sent to out of placement for a while; the bounce costs no lost attempt', async () => {
    const h = harness([W('a'), W('b')], { 'example/factorial': ['a', 'b'] })
    h.state.unreachable.add('a:1')
    await h.driver.start()
    for (let i = 1; i <= 4; i++) await h.coordinator.propose(launch(i, { at: h.clock.now(), maxLost: 0 }))
    await h.settle()
    // Whatever went to a came back and went to b: nothing failed, a got no second order.
    expect([1, 2, 3, 4].map(id => h.table.get(id)?.state).sort()).toEqual(['assigned', 'assigned', 'queued', 'queued'])
    expect([...h.table.activeJobs()].filter(j => j.state === 'assigned').every(j => j.peerId === 'b')).toBe(true)
    const triedA = [...h.table.activeJobs()].flatMap(j => j.attempts).filter(a => a.peerId === 'a')
    expect(triedA.length).toBeGreaterThan(0)
    expect(triedA.length).toBeLessThanOrEqual(2)
    h.state.unreachable.delete('a:1')
    await h.clock.advanceAsync(2_100) // the timer brings a back
    await h.settle()
    expect(h.table.liveOn('a')).toHaveLength(2)
  })
})
