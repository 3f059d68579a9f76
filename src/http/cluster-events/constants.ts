/** Events a peer keeps for clients that resume (Last-Event-ID). */
export const EVENT_BUFFER_EVENTS = 10_000
/** Key events recorded per second; past it they are counted and reported as `sampled` once a second. */
export const KEY_EVENTS_PER_SECOND = 50
/** Bytes a stream may hold for a client whose socket does not drain; past it the stream is closed. */
export const STREAM_QUEUE_BYTES = 1024 * 1024
/** A `: keep-alive` comment line this often, ms. */
export const KEEP_ALIVE_MS = 15_000
/** A batch's event is recorded at most this often, ms (its tasks change on every report). */
export const BATCH_EVENT_EVERY_MS = 250
