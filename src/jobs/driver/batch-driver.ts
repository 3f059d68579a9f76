import { CoalescingRunner } from '../../common/coalescing-runner.js'
import type { Startable } from '../../common/startable.js'
import { JOB_COMMAND_VERSION } from '../table/index.js'
import type { BatchDriverComponents, BatchDriverInit } from './types.js'

/** Keys listed per page (one `batch.tasks` command each). */
export const BATCH_PAGE_KEYS = 1000
/** Wait before listing again after a page failed, ms. */
const RETRY_WAIT_MS = 500
/** Commands after which a batch may need listing. */
const KICKS = new Set(['batch.create', 'batch', 'cancel'])

/**
 * The leader's listing of prefix batches (issue 16): for each batch whose
 * keys are not all listed it lists the next page of keys after the batch's
 * cursor and commits it as a `batch.tasks` command (a task per key), until
 * a short page ends the listing — in the background, so that a launch
 * answers at once and tasks of the first page run while the rest is listed.
 * A page applies only after the cursor it was listed from, so a new leader
 * simply goes on from the cursor in the table.
 */
export class BatchDriver implements Startable {
  private readonly runner: CoalescingRunner
  private readonly pageKeys: number

  constructor (private readonly c: BatchDriverComponents, init: BatchDriverInit = {}) {
    this.pageKeys = init.pageKeys ?? BATCH_PAGE_KEYS
    this.runner = new CoalescingRunner(async () => await this.pass(), err => this.c.log.warn({ err }, 'batch listing pass failed'), c.clock)
  }

  async start (): Promise<void> {
    const kick = (): void => this.runner.kick()
    this.runner.start(() => [
      this.c.coordinator.onApplied(command => { if (KICKS.has(command.type)) kick() }),
      this.c.coordinator.onLeaderChange(kick)
    ])
    kick()
  }

  async stop (): Promise<void> { this.runner.stop() }

  /** Lists one page of every batch still listing, until none is (or this peer stops leading). */
  async pass (): Promise<void> {
    const { coordinator, table, keys, clock } = this.c
    try {
      for (;;) {
        const listing = table.listingBatches()
        if (listing.length === 0 || !coordinator.isLeader() || this.runner.stopped) return
        for (const b of listing) {
          const page = await keys.list({ prefix: b.prefix as string, limit: this.pageKeys, ...(b.cursor !== undefined ? { after: b.cursor } : {}) })
          await coordinator.propose({
            type: 'batch.tasks', v: JOB_COMMAND_VERSION, at: clock.now(), batchId: b.batchId, keys: page, done: page.length < this.pageKeys,
            ...(b.cursor !== undefined ? { after: b.cursor } : {})
          })
        }
      }
    } catch (err) {
      this.runner.wakeAt(clock.now() + RETRY_WAIT_MS)
      throw err
    }
  }
}
