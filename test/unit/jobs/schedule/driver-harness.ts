// A ScheduleDriver over a real JobTable on the manual clock, with a fake
// coordinator that applies each proposal at once while it leads; leadership
// and proposal failures are switched by the test.
import { createLogger } from '../../../../src/common/logger.js'
import { JobTable, ScheduleDriver, type JobCommand, type JobResult, type ScheduleCommand, type ScheduleSpec } from '../../../../src/jobs/index.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })

export interface DriverHarness {
  clock: ManualClock
  table: JobTable
  driver: ScheduleDriver
  /** Proposals the coordinator rejects before it applies again. */
  failing: { proposals: number }
  /** Takes or gives up leadership, as a leader:change event says it. */
  lead(leading: boolean): void
  /** Records a schedule at the clock's time (through the table, as a committed proposal would); its id. */
  add(spec: Partial<ScheduleSpec>): number
  /** The ticks each firing of `scheduleId` fired for, oldest first. */
  firedTicks(scheduleId: number): number[]
  /** Moves the clock, letting the driver's proposals settle at each timer. */
  advance(ms: number): Promise<void>
}

export async function driverHarness (start: number): Promise<DriverHarness> {
  const clock = new ManualClock(start)
  const table = new JobTable()
  const applied: Array<(c: JobCommand) => void> = []
  const leaders: Array<() => void> = []
  const state = { leading: true }
  const failing = { proposals: 0 }
  const apply = (command: JobCommand): JobResult => {
    const result = table.apply(command) as JobResult
    for (const fn of applied) fn(command)
    return result
  }
  const driver = new ScheduleDriver({
    coordinator: {
      isLeader: () => state.leading,
      async propose (command) {
        if (!state.leading) throw new Error('not the leader')
        if (failing.proposals > 0) {
          failing.proposals--
          throw new Error('no quorum')
        }
        return { result: apply(command) }
      },
      onApplied: fn => { applied.push(fn); return () => {} },
      onLeaderChange: fn => { leaders.push(() => fn({ type: 'leader:change', leader: undefined })); return () => {} }
    },
    table,
    catalog: { list: () => [], on: () => () => {} },
    clock,
    log
  })
  await driver.start()
  return {
    clock,
    table,
    driver,
    failing,
    lead (leading) {
      state.leading = leading
      for (const fn of leaders) fn()
    },
    add (p) {
      const spec: ScheduleSpec = { timing: { kind: 'every', everyMs: 1000 }, catchUp: 'last', maxCatchUp: 10, overlap: 'allow', once: false, ...p }
      const scheduleId = table.nextJobId()
      const op: ScheduleCommand = { type: 'schedule', v: 1, at: clock.now(), scheduleId, template: { seed: 'cron/tick', seedHash: 'h1', args: {} }, spec }
      apply(op)
      return scheduleId
    },
    firedTicks: scheduleId => table.list().filter(j => j.scheduleId === scheduleId).map(j => j.firedAt as number).sort((a, b) => a - b),
    advance: async ms => await clock.advanceAsync(ms)
  }
}
