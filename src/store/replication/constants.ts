/** How long a replica may take to answer for its record of a key, ms (a read's survey). */
export const SURVEY_TIMEOUT_MS = 2_000
/** Deadline of a replicated write's reply, which comes after the whole body, ms; a stalled body is cut sooner (SINK_STALL_MS). */
export const PUT_TIMEOUT_MS = 60_000
/** Deadline of a tombstone's or a list's reply, ms. */
export const ACK_TIMEOUT_MS = 5_000
/** Bytes queued per replica of a write before the upload waits for the slowest replica (bounded memory per upload). */
export const FANOUT_HIGH_WATER_BYTES = 1024 * 1024
/** A replica whose queue stays full this long is dropped from the write (it stalls, or died), ms. */
export const SINK_STALL_MS = 15_000
/** Values up to this size are read whole from a remote replica and verified before the answer starts (so a bad copy falls back). */
export const READ_WHOLE_MAX_BYTES = 256 * 1024
/** Read repairs in flight at once per peer; past it a repair is skipped (a later read or anti-entropy catches up). */
export const MAX_CONCURRENT_REPAIRS = 32
/** Version of the replication messages. */
export const REPLICATION_V = 1
