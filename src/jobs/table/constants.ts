/** Wire version of the job table's commands and snapshots; a command with another `v` is refused. */
export const JOB_COMMAND_VERSION = 1
/** Priorities run from 0 (least urgent) to 9 (most urgent): 9 is placed first, unlike BullMQ where 1 is highest. */
export const MIN_PRIORITY = 0
export const MAX_PRIORITY = 9
/** Priority of a launch that names none. */
export const DEFAULT_PRIORITY = 5
/** A launch with the dedup key of one launched less than this long ago returns that job instead, ms (24 h). */
export const DEDUP_WINDOW_MS = 24 * 60 * 60 * 1000
/** Failed attempts re-run after the first, by default (a seed or launch may ask for more). */
export const DEFAULT_RETRIES = 0
/** Upper bound of `retries` a launch may ask for. */
export const MAX_RETRIES = 100
/** Attempts lost to a dead or silent worker that are re-queued; one more fails the job (BullMQ's maxStalledCount, more forgiving). */
export const MAX_LOST_ATTEMPTS = 3
/** Characters of a job's log kept in the table; older text is dropped and the log marked truncated. */
export const MAX_LOG_CHARS = 64 * 1024
/**
 * Bytes of an output the table holds (a string's UTF-8, anything else's
 * JSON); a bigger one goes into the store under a key (Job.outputKey).
 */
export const OUTPUT_INLINE_MAX_BYTES = 1024 * 1024
/** Characters of a progress text or a failure reason kept. */
export const MAX_TEXT_CHARS = 1024
/** Commands in one batch at most (one Raft entry). */
export const MAX_BATCH_COMMANDS = 4096
/** First backoff before a retry, ms (before jitter). */
export const RETRY_BASE_MS = 1_000
/** Backoff cap, ms. */
export const RETRY_CAP_MS = 5 * 60 * 1000
/** A running job whose worker has not reported for this long is re-queued, ms. */
export const HEARTBEAT_TIMEOUT_MS = 15_000
/** Decided ticks a schedule keeps (its `last_executions`), newest. */
export const MAX_EXECUTIONS = 100
/**
 * An attempt an earlier coordinator assigned that has not started this long
 * after a new coordinator took over is re-queued (its order may have died
 * with the old one; the worker's `started` report has had time to land), ms.
 */
export const START_TIMEOUT_MS = 2_000
/** Log lines one progress or heartbeat report relays at most (older ones are dropped and counted in a marker line). */
export const MAX_RELAY_LINES = 200
/** Characters of one relayed log line at most. */
export const MAX_RELAY_LINE_CHARS = 8 * 1024
/** Attempts of a batch task that may fail, by default (issue 16). */
export const DEFAULT_BATCH_TRIES = 3
/** How long a soft-locality task waits for a replica of its key before any worker may take it, ms. */
export const DEFAULT_LOCALITY_WAIT_MS = 2_000
/** Tasks of a batch handed to a worker ahead of its free slots, by default (issue 16's perWorkerQueue): the next task starts as one ends, without a round through the coordinator. */
export const DEFAULT_PER_WORKER_QUEUE = 4
/** Keys one batch launch or one `batch.tasks` page carries at most. */
export const MAX_BATCH_KEYS = 10_000
