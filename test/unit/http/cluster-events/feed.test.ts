import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { ClusterEventFeed } from '../../../../src/http/cluster-events/feed.js'
import type { ClusterEventsComponents } from '../../../../src/http/cluster-events/types.js'
import { JobTable, type JobCommand, type JobResult, type ScheduleSpec } from '../../../../src/jobs/index.js'
import type { Member, MembershipEvent } from '../../../../src/mesh/membership/index.js'
import { asKey, type KeyChange, type RepairEvent, type Store, type ValueMeta } from '../../../../src/store/index.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

const T0 = Date.UTC(2026, 0, 1)

/** The feed over hand-driven components: call the captured listeners to make things happen. */
function harness (init: { keyEventsPerSecond?: number, replicas?: string[] } = {}) {
  const clock = new ManualClock(T0)
  const table = new JobTable()
  const fns = {
    peer: [] as Array<(e: MembershipEvent) => void>,
    leader: [] as Array<() => void>,
    key: [] as Array<(c: KeyChange) => void>,
    repair: [] as Array<(e: RepairEvent) => void>,
    applied: [] as Array<(c: JobCommand, r?: JobResult) => void>
  }
  const leader = { leader: null as string | null, term: 1 }
  const sub = <T>(list: T[], fn: T): () => void => { list.push(fn); return () => { list.splice(list.indexOf(fn), 1) } }
  const components: ClusterEventsComponents = {
    membership: { on: (_e, fn) => sub(fns.peer, fn) },
    network: { peers: async () => [{ node: 'a', state: 'alive' }] },
    coordinator: { leader: () => ({ ...leader }), onLeaderChange: fn => sub(fns.leader, fn) },
    store: {
      on: (_e, fn) => sub(fns.key, fn),
      onRepair: fn => sub(fns.repair, fn),
      replicasOf: () => init.replicas ?? ['self']
    },
    jobs: {
      onApplied: fn => sub(fns.applied, fn),
      job: id => table.get(id),
      schedule: id => table.schedule(id),
      batch: id => {
        const batch = table.batch(id)
        return batch === undefined ? undefined : { batch, tasks: table.batchTasks(id) }
      }
    },
    clock,
    log: createLogger({ level: 'silent' })
  }
  const feed = new ClusterEventFeed(components, { peerId: 'self', bufferEvents: 1000, ...init })
  const events = (): Array<{ topic: string, data: any }> => (feed.log.after(feed.log.oldestId() - 1) ?? []).map(e => ({ topic: e.topic, data: JSON.parse(e.frame.split('data: ')[1]) }))
  const apply = (command: JobCommand): JobResult => {
    const result = table.apply(command)
    for (const fn of fns.applied) fn(command, result)
    return result
  }
  return { clock, table, fns, leader, feed, events, apply }
}

const member = (peerId: string, state: Member['state'], p: Partial<Member> = {}): Member =>
  ({ peerId, address: `${peerId}:1`, state, incarnation: 1, meta: { http: `http://${peerId}`, roles: ['volume'] }, lastHeard: null, ...p })
const put = (key: string, size = 3): KeyChange => ({ type: 'put', meta: { key, size } as ValueMeta })

describe('ClusterEventFeed', () => {
  let stop: (() => Promise<void>) | undefined
  afterEach(async () => { await stop?.() })

  it('numbers from the start time in ms x 1000, so a restarted peer never gives an id twice', () => {
    const h = harness()
    expect(h.feed.log.lastId()).toBe(T0 * 1000)
  })

  it('records membership changes of state, roles or URL, not meta updates that change neither', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const tell = (type: MembershipEvent['type'], m: Member): void => { for (const fn of h.fns.peer) fn({ type, member: m }) }
    tell('join', member('b', 'alive'))
    tell('update', member('b', 'alive', { incarnation: 2 }))
    tell('suspect', member('b', 'suspect', { incarnation: 2 }))
    tell('dead', member('b', 'dead', { incarnation: 2 }))
    tell('update', member('c', 'alive', { meta: { http: 'http://c', roles: ['worker'] } }))
    tell('update', member('c', 'alive', { meta: { http: 'http://c', roles: ['worker', 'volume'] } }))
    expect(h.events()).toEqual([
      { topic: 'peers', data: { type: 'peer', id: 'b', state: 'alive', roles: ['volume'], http: 'http://b', incarnation: 1 } },
      { topic: 'peers', data: { type: 'peer', id: 'b', state: 'suspect', roles: ['volume'], http: 'http://b', incarnation: 2 } },
      { topic: 'peers', data: { type: 'peer', id: 'b', state: 'dead', roles: ['volume'], http: 'http://b', incarnation: 2 } },
      { topic: 'peers', data: { type: 'peer', id: 'c', state: 'alive', roles: ['worker'], http: 'http://c', incarnation: 1 } },
      { topic: 'peers', data: { type: 'peer', id: 'c', state: 'alive', roles: ['worker', 'volume'], http: 'http://c', incarnation: 1 } }
    ])
  })

  it('records a leader change once, and the snapshots say who leads now and who the peers are', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const tell = (): void => { for (const fn of h.fns.leader) fn() }
    Object.assign(h.leader, { leader: 'a', term: 2 })
    tell()
    tell()
    Object.assign(h.leader, { leader: null, term: 3 })
    tell()
    Object.assign(h.leader, { leader: 'b', term: 3 })
    tell()
    expect(h.events().map(e => e.data)).toEqual([
      { type: 'leader', leader: 'a', term: 2 }, { type: 'leader', leader: null, term: 3 }, { type: 'leader', leader: 'b', term: 3 }
    ])
    expect(await h.feed.snapshot('coordinator')).toEqual({ type: 'snapshot', leader: 'b', term: 3 })
    expect(await h.feed.snapshot('peers')).toEqual({ type: 'snapshot', peers: [{ node: 'a', state: 'alive' }] })
    expect(await h.feed.snapshot('keys')).toBeUndefined()
  })

  it('samples key events: the first 50 of a second pass, the rest are counted and reported once a second while it lasts', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const tell = (c: KeyChange): void => { for (const fn of h.fns.key) fn(c) }
    for (let i = 0; i < 120; i++) tell(put(`/k/${i}`))
    tell({ type: 'delete', key: asKey('/k/0'), reason: 'deleted' })
    expect(h.events()).toHaveLength(50)
    expect(h.events()[0]).toEqual({ topic: 'keys', data: { type: 'added', key: '/k/0', size: 3 } })
    h.clock.advance(1000)
    expect(h.events()[50]).toEqual({ topic: 'keys', data: { type: 'sampled', dropped: 71 } })
    // A new second: events pass again; a quiet second reports nothing.
    tell({ type: 'delete', key: asKey('/k/1'), reason: 'expired' })
    h.clock.advance(5000)
    expect(h.events().slice(51)).toEqual([{ topic: 'keys', data: { type: 'deleted', key: '/k/1', size: null } }])
  })

  it('records ring changes and repair progress as the store reports them', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    for (const fn of h.fns.repair) {
      fn({ type: 'ring', peers: ['a', 'b'] })
      fn({ type: 'repair', round: 4, keysRepaired: 10, bytes: 1000, done: true })
    }
    expect(h.events()).toEqual([
      { topic: 'ring', data: { type: 'ring', peers: ['a', 'b'] } },
      { topic: 'ring', data: { type: 'repair', round: 4, keysRepaired: 10, bytes: 1000, done: true } }
    ])
  })

  it('records every state change and progress report of a job, not its heartbeats', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const at = T0
    h.apply({ type: 'launch', v: 1, at, seed: 'dir/work', seedHash: 'h' })
    h.apply({ type: 'assign', v: 1, at, jobId: 1, peerId: 'w', attempt: 1, term: 1 })
    h.apply({ type: 'batch', v: 1, commands: [{ type: 'started', v: 1, at, jobId: 1, attempt: 1 }, { type: 'progress', v: 1, at, jobId: 1, attempt: 1, fraction: 0.5, text: 'half' }] })
    h.apply({ type: 'heartbeat', v: 1, at, jobId: 1, attempt: 1 })
    h.apply({ type: 'finished', v: 1, at, jobId: 1, attempt: 1, ok: true, output: 1 })
    // A report of an attempt that is no longer live changes nothing: not news.
    h.apply({ type: 'progress', v: 1, at, jobId: 1, attempt: 1, fraction: 0.9 })
    expect(h.events().map(e => [e.topic, e.data.state, e.data.status, e.data.node, e.data.attempt, e.data.progress])).toEqual([
      ['jobs', 'queued', 'pending', null, 0, null],
      ['jobs', 'assigned', 'pending', 'w', 1, null],
      ['jobs', 'running', 'pending', 'w', 1, { fraction: 0.5, text: 'half' }],
      ['jobs', 'ready', 'completed', 'w', 1, null]
    ])
    expect(h.events()[0].data).toMatchObject({ type: 'job', job_id: 1, script: 'dir/work' })
  })

  it('records a schedule when made, when it fires (with the jobs it launched) and when cancelled', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const spec: ScheduleSpec = { timing: { kind: 'every', everyMs: 10_000 }, catchUp: 'last', maxCatchUp: 10, overlap: 'skip', once: false }
    h.apply({ type: 'schedule', v: 1, at: T0, template: { seed: 's/tick', seedHash: 'h', args: {} }, spec })
    h.apply({ type: 'fire', v: 1, at: T0 + 10_000, scheduleId: 1, ticks: [T0 + 10_000] })
    h.apply({ type: 'cancel', v: 1, at: T0 + 11_000, jobId: 1 })
    const schedules = h.events().filter(e => e.topic === 'schedules').map(e => e.data)
    expect(schedules).toEqual([
      { type: 'schedule', schedule_id: 1, state: 'scheduled', next_execution: new Date(T0 + 10_000).toISOString() },
      { type: 'schedule', schedule_id: 1, state: 'scheduled', next_execution: new Date(T0 + 20_000).toISOString(), fired: [2] },
      { type: 'schedule', schedule_id: 1, state: 'canceled', next_execution: null }
    ])
    expect(h.events().filter(e => e.topic === 'jobs').map(e => e.data.job_id)).toEqual([2])
  })

  it('records a batch at most every 250 ms however often its tasks change, and its end', async () => {
    const h = harness()
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const at = T0
    h.apply({ type: 'batch.create', v: 1, at, template: { seed: 'b/x', seedHash: 'h', args: {} }, limits: { maxTries: 1 }, keys: ['/a', '/b'] })
    const batches = (): any[] => h.events().filter(e => e.topic === 'batches').map(e => e.data)
    expect(batches()).toEqual([{ type: 'batch', batch_id: 1, state: 'running', counts: { pending: 2, running: 0, done: 0, failed: 0, cancelled: 0 } }])
    h.apply({ type: 'assign', v: 1, at, jobId: 2, peerId: 'w', attempt: 1, term: 1 })
    h.apply({ type: 'assign', v: 1, at, jobId: 3, peerId: 'w', attempt: 1, term: 1 })
    h.apply({ type: 'finished', v: 1, at, jobId: 2, attempt: 1, ok: true })
    expect(batches()).toHaveLength(1)
    h.clock.advance(250)
    expect(batches()[1]).toMatchObject({ counts: { pending: 0, running: 1, done: 1 } })
    h.apply({ type: 'finished', v: 1, at, jobId: 3, attempt: 1, ok: true })
    h.clock.advance(250)
    expect(batches()).toHaveLength(3)
    expect(batches()[2]).toMatchObject({ state: 'done', counts: { done: 2 } })
  })

  it('records writes through the gateway of keys this peer holds no replica of (the others come from its own store)', async () => {
    const h = harness({ replicas: ['x', 'y'] })
    await h.feed.start()
    stop = async () => await h.feed.stop()
    const store = { put: async (key: string) => ({ key, size: 7 }), delete: async () => {}, stats: async () => ({ entries: 0 }) } as unknown as Store
    const seen = h.feed.observe(store)
    await seen.put(asKey('/far'), (async function * () {})())
    await seen.delete(asKey('/far'))
    expect(await seen.stats()).toEqual({ entries: 0 })
    expect(h.events().map(e => e.data)).toEqual([{ type: 'added', key: '/far', size: 7 }, { type: 'deleted', key: '/far', size: null }])
    const near = harness({ replicas: ['self', 'y'] })
    await near.feed.start()
    await near.feed.observe(store).put(asKey('/near'), (async function * () {})())
    expect(near.events()).toEqual([])
    await near.feed.stop()
  })

  it('stops listening when stopped', async () => {
    const h = harness()
    await h.feed.start()
    await h.feed.stop()
    expect(h.fns.peer.length + h.fns.key.length + h.fns.leader.length + h.fns.repair.length + h.fns.applied.length).toBe(0)
  })
})
