// The batches of the job table (issue 16), deterministic like the rest of
// apply: every time comes from the command. A batch's tasks are jobs of the
// table (`batchId`, `dataKey` = the key), created in the apply of the batch
// (explicit keys) or of a page of its keys (`batch.tasks`), so placement,
// retries, timeouts, re-queues and reports are the jobs' own.
import { DEFAULT_BATCH_TRIES, DEFAULT_LOCALITY_WAIT_MS } from './constants.js'
import type { Batch, BatchCreateCommand, BatchTasksCommand } from './batch-types.js'
import type { JobTemplate } from './schedule-types.js'
import type { JobOutcome } from './types.js'

/** What the book needs of the job table. */
export interface BatchHost {
  /** Takes `id` as the next id of the sequence (false: it is taken). */
  takeId(id: number): boolean
  /** Queues one task (the next id); returns its id. */
  task(template: JobTemplate, at: number, batchId: number): number
  /** Cancels the job if it is not final (a waiting one at once, a live one becomes cancelling). */
  cancel(jobId: number, at: number): void
  /** Re-drives the job if it failed; whether it did. */
  retry(jobId: number, at: number): boolean
}

const ok = (batchId: number, changed: boolean): JobOutcome => ({ ok: true, changed, jobId: batchId })

export class BatchBook {
  private batches = new Map<number, Batch>()
  /** Task ids of each batch, in creation order (pruned jobs stay listed until the batch goes). */
  private tasks = new Map<number, number[]>()
  /** Batches whose keys are still being listed. */
  private unlisted = new Set<number>()

  constructor (private readonly host: BatchHost) {}

  get (id: number): Batch | undefined { return this.batches.get(id) }
  has (id: number): boolean { return this.batches.has(id) }
  /** Batches, newest first. */
  list (): Batch[] { return [...this.batches.values()].reverse() }
  /** The task ids of a batch, in creation order. */
  taskIds (id: number): readonly number[] { return this.tasks.get(id) ?? [] }
  /** Batches whose listing is not done (what the leader's BatchDriver pages). */
  listing (): Batch[] { return [...this.unlisted].map(id => this.batches.get(id) as Batch) }

  create (op: BatchCreateCommand & { batchId: number }): JobOutcome {
    const existing = this.batches.get(op.batchId)
    if (existing !== undefined && op.nonce !== undefined && existing.nonce === op.nonce) return ok(op.batchId, false)
    if (!this.host.takeId(op.batchId)) return { ok: false, code: 'ERR_CONFLICT', message: `id ${op.batchId} is taken`, jobId: op.batchId }
    const b: Batch = {
      batchId: op.batchId,
      template: op.template,
      limits: { ...op.limits, maxTries: op.limits.maxTries ?? DEFAULT_BATCH_TRIES, locality: op.limits.locality ?? 'soft', localityWaitMs: op.limits.localityWaitMs ?? DEFAULT_LOCALITY_WAIT_MS, maxPending: op.limits.maxPending ?? 0 },
      listed: op.prefix === undefined,
      tasks: 0,
      createdAt: op.at,
      updatedAt: op.at
    }
    for (const k of ['prefix', 'outputPrefix', 'nonce'] as const) if (op[k] !== undefined) b[k] = op[k]
    this.batches.set(b.batchId, b)
    this.tasks.set(b.batchId, [])
    if (b.listed) b.listedAt = op.at
    else this.unlisted.add(b.batchId)
    this.addTasks(b, op.keys ?? [], op.at)
    return ok(b.batchId, true)
  }

  /** One page of keys; ignored unless it continues from the batch's cursor. */
  page (op: BatchTasksCommand): JobOutcome {
    const b = this.batches.get(op.batchId)
    if (b === undefined) return { ok: false, code: 'ERR_NOT_FOUND', message: `batch ${op.batchId} not found`, jobId: op.batchId }
    if (b.listed || b.cursor !== op.after) return ok(b.batchId, false)
    const keys = op.keys.filter(k => b.prefix === undefined || k.startsWith(b.prefix))
    // Keys come sorted after the cursor; one at or before it was listed already.
    this.addTasks(b, keys.filter(k => b.cursor === undefined || k > b.cursor), op.at)
    if (op.keys.length > 0) b.cursor = op.keys[op.keys.length - 1]
    if (op.done) {
      b.listed = true
      b.listedAt = op.at
      this.unlisted.delete(b.batchId)
    }
    b.updatedAt = op.at
    return ok(b.batchId, true)
  }

  /** Cancels a batch: no more keys are listed and every task not ended is cancelled; idempotent. */
  cancel (id: number, at: number): JobOutcome {
    const b = this.batches.get(id) as Batch
    if (b.cancelledAt !== undefined) return ok(id, false)
    b.cancelledAt = b.updatedAt = at
    if (!b.listed) {
      b.listed = true
      this.unlisted.delete(id)
    }
    for (const t of this.taskIds(id)) this.host.cancel(t, at)
    return ok(id, true)
  }

  /** Re-drives the failed tasks of a batch (fresh try budgets); changed when there was one. */
  retry (id: number, at: number): JobOutcome {
    const b = this.batches.get(id) as Batch
    let n = 0
    for (const t of this.taskIds(id)) if (this.host.retry(t, at)) n++
    if (n > 0) b.updatedAt = at
    return ok(id, n > 0)
  }

  /** Drops batches that ended before `before` once none of their tasks is in the table any more; how many. */
  prune (before: number, exists: (jobId: number) => boolean): number {
    let n = 0
    for (const [id, b] of this.batches) {
      if (!b.listed || b.updatedAt >= before || this.taskIds(id).some(exists)) continue
      this.batches.delete(id)
      this.tasks.delete(id)
      n++
    }
    return n
  }

  snapshot (): Batch[] { return [...this.batches.values()] }

  /** Restores the batches; `tasks` gives each job's batch, in id order, to rebuild the task lists. */
  restore (batches: Batch[] | undefined, tasks: Iterable<{ jobId: number, batchId?: number }>): void {
    this.batches = new Map((batches ?? []).map(b => [b.batchId, b]))
    this.tasks = new Map([...this.batches.keys()].map(id => [id, []]))
    this.unlisted = new Set([...this.batches.values()].filter(b => !b.listed).map(b => b.batchId))
    for (const t of tasks) if (t.batchId !== undefined) this.tasks.get(t.batchId)?.push(t.jobId)
  }

  private addTasks (b: Batch, keys: readonly string[], at: number): void {
    const ids = this.tasks.get(b.batchId) as number[]
    const { maxTries, taskTimeoutMs } = b.limits
    for (const key of keys) {
      const template: JobTemplate = {
        ...b.template, args: { ...b.template.args, key }, dataKey: key, retries: maxTries - 1,
        ...(taskTimeoutMs !== undefined ? { timeoutMs: taskTimeoutMs } : {})
      }
      ids.push(this.host.task(template, at, b.batchId))
    }
    b.tasks += keys.length
    if (keys.length > 0) b.updatedAt = at
  }
}
