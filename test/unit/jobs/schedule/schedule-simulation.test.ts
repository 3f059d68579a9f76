/**
 * Schedules through coordinator failovers, deterministic (issue 15): real
 * Raft coordinators over the in-memory transport on a manual clock, each
 * with a job table and a ScheduleDriver; the leader is killed or cut off at
 * random moments — also right after a firing committed — and comes back.
 * A checker counts firings per (schedule, tick) from the replicated table:
 * none twice, and none missed except where the catch-up policy allows.
 *
 * Replay one run: PMZ_SIM_SEED=17 npx vitest run --project unit test/unit/jobs/schedule/schedule-simulation.test.ts
 * Stress:         PMZ_SIM_SEEDS=50 PMZ_SIM_COPIES=10 PMZ_SIM_MS=100000 ...  (10,000 ticks a run)
 */
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../../src/common/random.js'
import { JobTable, MISSED_AFTER_MS, ScheduleDriver, batch, type JobCommand, type JobOp, type ScheduleSpec } from '../../../../src/jobs/index.js'
import type { ClusterSeed } from '../../../../src/seeds/index.js'
import { TestCluster, type Peer } from '../../coordinator/cluster.js'

const silent = pino({ level: 'silent' })
const STEP_MS = 50
const S = 1000
/** Chance per step (50 ms) that the leader is killed or cut off. */
const FAULT_RATE = 0.008
/** Copies of the 10 schedules of `plans`: 10 copies give about 10,000 ticks per 100 simulated seconds (the stress run's size). */
const COPIES = Number(process.env.PMZ_SIM_COPIES ?? 5)
const DURATION_MS = Number(process.env.PMZ_SIM_MS ?? 50_000)

interface Plan { spec: ScheduleSpec }

/** A spread of schedules, `copies` times over: every 1-3 s under each catch-up policy, and a cron one. */
function plans (copies: number): Plan[] {
  const out: Plan[] = []
  const base = (p: Partial<ScheduleSpec>): ScheduleSpec => ({ timing: { kind: 'every', everyMs: S }, catchUp: 'last', maxCatchUp: 100, overlap: 'allow', once: false, ...p })
  for (let i = 0; i < copies; i++) {
    for (const everyMs of [S, 2 * S, 3 * S]) {
      for (const catchUp of ['last', 'all', 'none'] as const) out.push({ spec: base({ timing: { kind: 'every', everyMs }, catchUp }) })
    }
    out.push({ spec: base({ timing: { kind: 'cron', expr: '*/2 * * * * *', tz: 'Europe/Madrid' }, catchUp: 'all' }) })
  }
  return out
}

const CATALOG: Pick<ClusterSeed, 'name' | 'hash'> = { name: 'sim/tick', hash: 'h1' }

async function simulate (seed: number, voters: number, durationMs: number): Promise<{ fired: number, kills: number, partitions: number, duplicates: string[], missed: string[] }> {
  const random = seededRandom(seed)
  const ids = Array.from({ length: voters }, (_, i) => `c${i + 1}`)
  const cluster = new TestCluster<JobTable>({ ids, seed, machine: () => new JobTable(), latencyMs: 2 })
  const drivers = new Map<string, ScheduleDriver>()
  const catalog = {
    list: () => [{ ...CATALOG, kind: 'module', meta: { description: '', args: '', category: '', author: '' }, peers: ids, hashes: { h1: ids }, errors: {}, launchable: true, limits: {} } as ClusterSeed],
    on: () => () => {}
  }
  const startDriver = async (p: Peer<JobTable>): Promise<void> => {
    const co = p.coordinator!
    const driver = new ScheduleDriver({
      coordinator: {
        isLeader: () => co.isLeader(),
        propose: async (command: JobCommand) => ({ result: (await co.propose(command, { timeoutMs: 1_000 })).result }),
        onApplied: fn => co.on('applied', e => fn(e.command)),
        onLeaderChange: fn => co.on('leader:change', fn)
      },
      table: p.machine,
      catalog,
      clock: cluster.clock,
      log: silent
    })
    drivers.set(p.id, driver)
    await driver.start()
  }
  const start = async (id: string): Promise<void> => {
    await cluster.start(id)
    await startDriver(cluster.peer(id))
  }
  const crash = async (id: string): Promise<void> => {
    await drivers.get(id)?.stop()
    await cluster.crash(id)
  }

  for (const id of ids) await start(id)
  const leader = await cluster.leader(5_000)
  const t0 = cluster.clock.now()
  const all = plans(COPIES)
  const ops: JobOp[] = all.map((p, i) => ({ type: 'schedule', v: 1, at: t0, scheduleId: i + 1, template: { seed: 'sim/tick', seedHash: 'h1', args: {} }, spec: p.spec }))
  await cluster.run(leader.coordinator!.propose(batch(ops)))

  // Leaderless time, sampled each step: a missed tick must fall near one.
  const leaderless: number[] = []
  let kills = 0
  let partitions = 0
  let healAt = 0
  const end = t0 + durationMs
  while (cluster.clock.now() < end) {
    const now = cluster.clock.now()
    const leaders = cluster.leaders()
    if (leaders.length === 0 || now < healAt) leaderless.push(now)
    if (now >= healAt && healAt > 0) {
      cluster.net.heal()
      healAt = 0
    }
    for (const id of ids) if (!cluster.peer(id).up && random() < 0.05) await start(id)
    const current = leaders[0]
    if (current !== undefined && healAt === 0 && random() < FAULT_RATE) {
      if (random() < 0.5) {
        await crash(current.id)
        kills++
      } else {
        cluster.net.partition([[current.id], ids.filter(i => i !== current.id)])
        healAt = now + 500 + Math.floor(random() * 3_000)
        partitions++
      }
    }
    await cluster.advance(STEP_MS)
  }
  cluster.net.heal()
  for (const id of ids) if (!cluster.peer(id).up) await start(id)
  const settled = await cluster.leader(10_000)
  await cluster.advance(3 * S)
  const stop = end - 3 * S // ticks before this must be decided by now

  // Count firings per (schedule, tick) from the leader's table, and check every live replica agrees.
  const table = settled.machine
  const firings = new Map<string, number>()
  for (const job of table.list()) {
    if (job.scheduleId === undefined) continue
    const k = `${job.scheduleId}@${job.firedAt ?? -1}`
    firings.set(k, (firings.get(k) ?? 0) + 1)
  }
  const duplicates = [...firings].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`)
  const missed: string[] = []
  const nearOutage = (tick: number): boolean => leaderless.some(t => t >= tick - MISSED_AFTER_MS - STEP_MS && t <= tick + MISSED_AFTER_MS + 2 * S)
  all.forEach((p, i) => {
    const s = table.schedule(i + 1)!
    const fired = new Set(s.executions.map(e => e.tick))
    // Every tick up to `stop`: fired, or missed where the policy lets an outage fold or drop it.
    for (const tick of expectedTicks(p.spec, s.anchor, stop)) {
      if (fired.has(tick) || firings.has(`${i + 1}@${tick}`)) continue
      if (p.spec.catchUp !== 'all' && nearOutage(tick)) continue
      missed.push(`${i + 1}@${new Date(tick).toISOString()} (${p.spec.catchUp})`)
    }
  })
  for (const p of cluster.up()) {
    if (p.machine.nextJobId() === table.nextJobId()) expect(p.machine.snapshot()).toEqual(table.snapshot())
  }
  for (const id of ids) await crash(id)
  return { fired: [...firings.values()].reduce((a, b) => a + b, 0), kills, partitions, duplicates, missed }
}

/** The ticks of a spec in (anchor, stop], from the same rules the table uses (so the cron one is croner's). */
function expectedTicks (spec: ScheduleSpec, anchor: number, stop: number): number[] {
  const out: number[] = []
  if (spec.timing.kind === 'every') {
    for (let t = anchor + spec.timing.everyMs; t <= stop; t += spec.timing.everyMs) out.push(t)
    return out
  }
  for (let t = Math.ceil((anchor + 1) / 2000) * 2000; t <= stop; t += 2000) out.push(t)
  return out
}

const seeds = process.env.PMZ_SIM_SEED !== undefined ? [Number(process.env.PMZ_SIM_SEED)] : Array.from({ length: Number(process.env.PMZ_SIM_SEEDS ?? 1) }, (_, i) => i + 1)

describe('schedule firing through failovers (issue 15)', () => {
  for (const voters of [3, 5]) {
    it(`fires every tick once with ${voters} voters, the leader killed and cut off at random (${seeds.length} seeds)`, async () => {
      let total = 0
      let faults = 0
      for (const seed of seeds) {
        const r = await simulate(seed * 31 + voters, voters, DURATION_MS)
        if (process.env.PMZ_SIM_VERBOSE !== undefined) console.log(voters, seed, r.fired, r.kills, r.partitions)
        expect(r.duplicates, `seed ${seed}`).toEqual([])
        expect(r.missed, `seed ${seed}`).toEqual([])
        total += r.fired
        faults += r.kills + r.partitions
      }
      expect(total).toBeGreaterThan(seeds.length * COPIES * 6 * (DURATION_MS / S) * 0.5) // ~ 6.3 firings per copy per second, with outages
      expect(faults).toBeGreaterThan(0)
    }, 600_000)
  }
})
