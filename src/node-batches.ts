import type { Clock } from './common/clock.js'
import { PmzError } from './common/errors.js'
import type { JobsView } from './http/index.js'
import { JOB_COMMAND_VERSION, type CommandBatcher, type JobTable, type JobsCoordinator } from './jobs/index.js'
import type { Store } from './store/index.js'

/** Commands that may change a batch's tasks: every report batch, a page, a cancel or retry. */
const BATCH_CHANGES = new Set(['batch', 'batch.tasks', 'cancel', 'retry', 'finished', 'requeue', 'started', 'assign'])

/** The batch side of the jobs view of a coordinator-role peer (issue 16). */
export function batchView (coordinator: JobsCoordinator, table: JobTable, launches: CommandBatcher, clock: Clock): Pick<JobsView, 'launchBatch' | 'getBatch' | 'batches' | 'followBatch'> {
  const read = (id: number): ReturnType<JobsView['getBatch']> extends Promise<infer R> ? R : never => {
    const batch = table.batch(id)
    return batch === undefined ? undefined : { batch, tasks: table.batchTasks(id) }
  }
  return {
    async launchBatch (req) {
      const { seed, seedHash, args, priority, ...rest } = req
      const template = { seed, seedHash, args, ...(priority !== undefined ? { priority } : {}) }
      const o = await launches.propose({ type: 'batch.create', v: JOB_COMMAND_VERSION, at: clock.now(), template, ...rest })
      if (!o.ok) throw new PmzError(o.code, o.message)
      return { batchId: o.jobId as number }
    },
    async getBatch (id) {
      await coordinator.read()
      return read(id)
    },
    async batches () {
      await coordinator.read()
      return table.batches().map(b => read(b.batchId)).filter(r => r !== undefined)
    },
    followBatch (id, fn) {
      return coordinator.onApplied(command => { if (BATCH_CHANGES.has(command.type) && table.batch(id) !== undefined) fn() })
    }
  }
}

/** The store's keys under a prefix, a page at a time, for the BatchDriver. */
export function keyLister (store: Pick<Store, 'list'>): { list: (o: { prefix: string, after?: string, limit: number }) => Promise<string[]> } {
  return { list: async o => (await store.list(o)).map(m => m.key) }
}
