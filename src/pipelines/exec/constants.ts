/** Longest a stage instance's `setup` (with the module's import) may take before the instance is killed and its start fails, in ms. */
export const SETUP_TIMEOUT_MS = 60_000
/** Longest a drain (`stop('drain')`: calls under way, then `cleanup`) may take before the process group is killed, in ms. */
export const STOP_TIMEOUT_MS = 10_000
/** Where a module stage runs when neither its seed nor the peer's config says: a worker thread (see endpoints.ts). */
export const DEFAULT_ISOLATION: 'thread' | 'process' = 'thread'
/** V8 old-space limit of a module stage's thread or child process, in MiB. */
export const STAGE_MEMORY_MB = 512
/** Time from SIGTERM to SIGKILL when an executable stage's process is stopped, in ms. */
export const EXEC_KILL_GRACE_MS = 2000
/** Messages to or from a module stage coalesced into one batch at most (a busier turn sends several). */
export const IPC_BATCH_MAX = 256
