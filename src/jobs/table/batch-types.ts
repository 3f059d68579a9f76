import type { JobTemplate } from './schedule-types.js'

/**
 * Pampa's limits of one batch (issue 16), fixed at launch. Every task is a
 * job of the table: `maxTries` becomes its `retries` (+1), `taskTimeoutMs`
 * its `timeoutMs` (an overrunning attempt fails and is placed again, away
 * from the peer it failed on).
 */
export interface BatchLimits {
  /** Distinct peers working on the batch at once. @default unlimited */
  maxWorkers?: number
  /**
   * Tasks of the batch handed to a worker ahead of its free slots: they wait
   * in the worker's queue and start as its running tasks end, without a
   * round through the coordinator (Pampa's per-worker queue). 0: only into
   * free slots. @default DEFAULT_PER_WORKER_QUEUE
   */
  perWorkerQueue?: number
  /** Run time of one attempt of a task, ms. @default none */
  taskTimeoutMs?: number
  /** Attempts of a task that may fail before it is failed. @default DEFAULT_BATCH_TRIES */
  maxTries: number
  /** Only workers whose peer id matches this glob (`*` any run of characters, `?` one). @default every worker */
  peers?: string
  /** `hard`: a task runs only on a replica of its key; `soft`: on any worker once it waited localityWaitMs. @default 'soft' */
  locality: 'hard' | 'soft'
  /** How long a soft-locality task waits for a replica before any worker may take it, ms. @default DEFAULT_LOCALITY_WAIT_MS */
  localityWaitMs: number
  /** A peer joins the batch (up to maxWorkers) only while more than this many tasks wait. @default 0 */
  maxPending: number
}

/** A batch as the table holds it. Its tasks are jobs with `batchId`; its counts are read from them. */
export interface Batch {
  /** Taken from the job ids' sequence, so `cancel_job/{id}` names one thing. */
  batchId: number
  /** What each task runs; a task's args are the template's plus `key`. */
  template: JobTemplate
  limits: BatchLimits
  /** Keys listed under this prefix (a key with its leading `/`); absent when the launch gave the keys. */
  prefix?: string
  /** Each ready task's output is also stored under outputPrefix + key (without its leading `/`). */
  outputPrefix?: string
  /** The last key listed so far: the next page starts after it. */
  cursor?: string
  /** Every key is listed (and has its task). */
  listed: boolean
  /** Tasks created. */
  tasks: number
  createdAt: number
  updatedAt: number
  /** When the last page was listed. */
  listedAt?: number
  cancelledAt?: number
  nonce?: string
}

interface Stamped { v: 1, at: number }

/**
 * Records a batch. Without `batchId` the table takes the next id of the job
 * ids' sequence. `keys` (an explicit list) become tasks in the same apply;
 * with `prefix` the leader lists the keys afterwards, page by page
 * (`batch.tasks`), so the launch answers at once.
 */
export interface BatchCreateCommand extends Stamped {
  type: 'batch.create'
  batchId?: number
  template: JobTemplate
  /** Unset limits take their defaults. */
  limits: Partial<BatchLimits>
  prefix?: string
  keys?: string[]
  outputPrefix?: string
  /** Unique per launch: the same command applied again answers like the first. */
  nonce?: string
}

/**
 * One page of a prefix batch's keys: a task per key. Applied only when
 * `after` is the batch's cursor (a page proposed twice, or by two leaders,
 * counts once); `done` marks the listing complete.
 */
export interface BatchTasksCommand extends Stamped {
  type: 'batch.tasks'
  batchId: number
  /** The cursor the page was listed after (absent for the first page). */
  after?: string
  keys: string[]
  done: boolean
}

export type BatchOp = BatchCreateCommand | BatchTasksCommand
