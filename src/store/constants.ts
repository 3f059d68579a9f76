/** Bytes per content chunk in LMDB; a value streams one chunk at a time. */
export const CHUNK_BYTES = 256 * 1024
/**
 * Chunk writes in flight per upload before the upload waits (bounds memory per
 * upload: these plus the batch being filled, 8 MiB). One batch commits while
 * the next one fills; LMDB's write thread is the slower side of a big upload.
 */
export const MAX_INFLIGHT_CHUNKS = 16
/**
 * Full chunks an upload hands to LMDB together (4 MiB), so that they share one
 * transaction and one fsync. Each transaction rewrites a B-tree path that the
 * next one faults in through the map (with the kernel's fault-around), so
 * fewer transactions also keep file-backed RSS lower: after the storage
 * bench's 1 GiB PUT it was ~215 MB at 8 chunks, ~195 MB at 16 and ~180 MB at
 * 32, where the buffers in flight begin to cost more anonymous memory.
 */
export const WRITE_BATCH_CHUNKS = 16
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
