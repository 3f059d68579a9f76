/** Bytes per content chunk in LMDB; a value streams one chunk at a time. */
export const CHUNK_BYTES = 256 * 1024
/** Chunk writes in flight per upload before the upload waits (bounds memory per upload). */
export const MAX_INFLIGHT_CHUNKS = 16
/** Full chunks an upload hands to LMDB together, so that they share one transaction and one fsync. */
export const WRITE_BATCH_CHUNKS = 8
/** Longest key, in bytes, with its leading `/`. */
export const MAX_KEY_BYTES = 1024
/** Longest key segment, in bytes. */
export const MAX_SEGMENT_BYTES = 255
/** Records handled per sweep transaction, so a sweep never holds the writer long. */
export const SWEEP_BATCH = 500
/** One day, in ms (temporal keys count in days). */
export const DAY_MS = 86_400_000
/** Readers LMDB allows at once (each streamed read holds one). */
export const MAX_READERS = 1024
