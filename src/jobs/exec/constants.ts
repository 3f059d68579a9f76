/** Newest log lines an attempt keeps (older ones are dropped and the log marked truncated). */
export const LOG_MAX_LINES = 1000
/** Newest log bytes an attempt keeps, counted over the kept lines. */
export const LOG_MAX_BYTES = 256 * 1024
/** Longest single log line; the rest of it is cut. */
export const LOG_MAX_LINE_BYTES = 16 * 1024
/** Most stdout an executable may print as its output before the attempt fails. */
export const OUTPUT_MAX_BYTES = 16 * 1024 * 1024
/** How much of stderr's end becomes a failed attempt's error. */
export const STDERR_TAIL_BYTES = 2048
/** Time between SIGTERM and SIGKILL when an attempt is cancelled or times out, in ms. */
export const KILL_GRACE_MS = 2000
/** How often a running attempt reports a heartbeat, in ms. */
export const HEARTBEAT_MS = 5000
/** Longest an attempt runs when its spec names no timeout, in ms (a job never stays running forever). */
export const TIMEOUT_MS = 60 * 60 * 1000
/** V8 old-space limit of a module's child process, in MiB. */
export const MEMORY_MB = 512
/** Jobs a module child runs before it is retired (bounds leaks of seed code); a fork costs ~70 ms of CPU, so 1000 jobs pay ~70 µs each. */
export const MAX_JOBS_PER_CHILD = 1000
/** How long a module job waits for a busy child of its seed to free before another child is forked, in ms. */
export const SPAWN_DELAY_MS = 10
/** How long an idle module child is kept warm, in ms. */
export const IDLE_CHILD_MS = 60_000
/** The Python interpreter for Pulzar job classes. */
export const PYTHON = 'python3'
