import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { seededRandom } from '../../../../src/common/random.js'
import { MemoryRaftStorage, createCoordinator } from '../../../../src/coordinator/index.js'
import { HistoryPruner, JobTable, PRUNE_INTERVAL_MS, type JobCommand, type JobResult, type JobsCoordinator } from '../../../../src/jobs/index.js'
import { MemoryNetwork } from '../../../../src/mesh/transport/index.js'
import { ManualClock } from '../../../helpers/manual-clock.js'
import { cmd, launch } from '../fixtures.js'

const log = createLogger({ level: 'silent' })
const DAY_MS = 24 * 60 * 60 * 1000

/** A fake coordinator whose leadership the test flips; proposals apply at once to a real table. */
function fake (clock: ManualClock) {
  const table = new JobTable()
  const proposed: JobCommand[] = []
  const listeners: Array<() => void> = []
  const state = { leader: false }
  const coordinator: Pick<JobsCoordinator, 'isLeader' | 'propose' | 'onLeaderChange'> = {
    isLeader: () => state.leader,
    async propose (c) { proposed.push(c); return { result: table.apply(c) as JobResult } },
    onLeaderChange: fn => { listeners.push(() => fn({ type: 'leader:change', leader: undefined })); return () => {} }
  }
  const lead = (yes: boolean): void => { state.leader = yes; listeners.forEach(f => f()) }
  const pruner = new HistoryPruner({ coordinator, clock, log }, { retentionDays: 2 })
  return { table, proposed, lead, pruner }
}

describe('HistoryPruner (issue 14: [general] retention_policy)', () => {
  it('prunes when it takes over and then hourly, only while leading, never in a tight loop', async () => {
    const clock = new ManualClock()
    const h = fake(clock)
    await h.pruner.start()
    await clock.advanceAsync(3 * PRUNE_INTERVAL_MS)
    expect(h.proposed).toEqual([]) // not leading
    h.lead(true)
    expect(h.proposed).toEqual([{ type: 'prune', v: 1, at: clock.now(), before: clock.now() - 2 * DAY_MS }])
    await clock.advanceAsync(PRUNE_INTERVAL_MS - 1)
    expect(h.proposed).toHaveLength(1)
    await clock.advanceAsync(1)
    expect(h.proposed).toHaveLength(2)
    await clock.advanceAsync(DAY_MS)
    expect(h.proposed).toHaveLength(26)
    h.lead(true) // another leader:change while still leading: no extra timer
    await clock.advanceAsync(PRUNE_INTERVAL_MS)
    expect(h.proposed).toHaveLength(27)
    h.lead(false)
    await clock.advanceAsync(DAY_MS)
    expect(h.proposed).toHaveLength(27)
    h.lead(true)
    expect(h.proposed).toHaveLength(28)
    await h.pruner.stop()
    await clock.advanceAsync(DAY_MS)
    expect(h.proposed).toHaveLength(28)
  })

  it('drops final jobs that ended more than the retention ago, keeps the rest', async () => {
    const clock = new ManualClock()
    const h = fake(clock)
    const t0 = clock.now()
    for (const op of [launch(1, { at: t0 }), cmd.assign(1, 'p', 1, 1, t0), cmd.ok(1, 1, t0 + 10), launch(2, { at: t0 }), launch(3, { at: t0 }),
      cmd.assign(3, 'p', 1, 1, t0), cmd.ok(3, 1, t0 + DAY_MS)]) h.table.apply(op)
    await h.pruner.start()
    h.lead(true)
    await clock.advanceAsync(2 * DAY_MS + PRUNE_INTERVAL_MS)
    expect(h.table.get(1)).toBeUndefined() // ended 2 days + 1 h ago
    expect(h.table.get(2)?.state).toBe('queued') // not final: never pruned
    expect(h.table.get(3)?.state).toBe('ready') // ended 1 day + 1 h ago
    await clock.advanceAsync(DAY_MS)
    expect(h.table.get(3)).toBeUndefined()
    expect(h.table.nextJobId()).toBe(4) // ids are never reused
  })

  it('through a real coordinator log: the next snapshot no longer holds the pruned history', async () => {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock, seed: 1, latencyMs: 1, lossRate: 0 })
    const transport = net.createTransport('solo', { address: 'solo:1' })
    await transport.start()
    const storage = new MemoryRaftStorage()
    const table = new JobTable()
    const raft = createCoordinator<JobCommand, JobResult>({ transport, clock, log, random: seededRandom(1) },
      { storage, bootstrap: true, snapshotThreshold: 8 }, table)
    const coordinator: JobsCoordinator = {
      isLeader: () => raft.isLeader(),
      term: () => raft.term(),
      propose: async c => ({ result: (await raft.propose(c)).result }),
      read: async () => await raft.read(),
      onLeaderChange: fn => raft.on('leader:change', fn),
      onApplied: fn => raft.on('applied', e => fn(e.command))
    }
    // Retention 0 days and a 1 s interval: the Raft heartbeats of a simulated day would take the manual clock seconds.
    const pruner = new HistoryPruner({ coordinator, clock, log }, { retentionDays: 0, intervalMs: 1_000 })
    await raft.start()
    await pruner.start()
    const settle = async <T>(p: Promise<T>): Promise<T> => {
      let done = false
      const out = p.finally(() => { done = true })
      for (let i = 0; i < 100 && !done; i++) await clock.advanceAsync(10)
      return await out
    }
    await settle((async () => { while (!raft.isLeader()) await new Promise(resolve => setImmediate(resolve)) })())
    const t0 = clock.now()
    for (const op of [launch(1, { at: t0 }), cmd.assign(1, 'p', 1, 1, t0), cmd.ok(1, 1, t0), launch(2, { at: t0 })]) await settle(coordinator.propose(op))
    const imageHas = (id: number): boolean => {
      const snap = storage.load().snapshot
      const restored = new JobTable()
      if (snap !== undefined) restored.restore(snap.data)
      return restored.get(id) !== undefined
    }
    for (let i = 0; i < 10; i++) await settle(coordinator.propose(cmd.heartbeat(2, 1, t0)))
    expect(imageHas(1)).toBe(true) // a snapshot was taken, with job 1 in it
    expect(table.get(1)).toBeDefined()
    await clock.advanceAsync(1_000)
    expect(table.get(1)).toBeUndefined()
    for (let i = 0; i < 10; i++) await settle(coordinator.propose(cmd.heartbeat(2, 1, t0)))
    expect(imageHas(1)).toBe(false)
    expect(imageHas(2)).toBe(true)
    await pruner.stop()
    await raft.stop()
    await transport.stop()
  })
})
