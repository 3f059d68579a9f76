/** Bytes per content chunk in LMDB; a value up to this size is stored with its record, a larger one in its own file. */
export const CHUNK_BYTES = 256 * 1024
/**
 * A value larger than one chunk goes to its own file (see BlobFiles), written
 * in buffers of this size: large writes, few awaits.
 */
export const BLOB_WRITE_BYTES = 1024 * 1024
/**
 * Blob writes in flight per upload before the upload waits; memory per upload
 * is these buffers plus the one being filled (3 MiB).
 */
export const MAX_INFLIGHT_BLOB_WRITES = 2
/**
 * With `sync = flush`, a blob upload starts a background datasync every this
 * many bytes, so that the sync before its commit has at most about this much
 * left to write.
 */
export const BLOB_SYNC_BYTES = 32 * 1024 * 1024
/** Bytes per read of a blob file; its stream reads up to BLOB_READ_AHEAD reads ahead of the consumer. */
export const BLOB_READ_BYTES = 512 * 1024
/**
 * Reads a blob stream keeps buffered, so the next read overlaps the socket
 * write of the last one (with one, a GET alternated between disk and socket).
 */
export const BLOB_READ_AHEAD = 4
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
/** How long a statfs of the data disk is reused before a write checks the free-space floor again, ms. */
export const DISK_CHECK_INTERVAL_MS = 1000
/**
 * LMDB reports a commit cut short by a full disk as EIO: an EIO with less
 * than this much free space left is read as "disk full" (507), not as an I/O error.
 */
export const NO_SPACE_SLACK_BYTES = 1024 * 1024
/** A Paxos promise (see Acceptor) older than this is dropped by the sweeper: no proposal lives so long, ms. */
export const PROMISE_TTL_MS = 10 * 60_000

/**
 * How long the partition digests remember which keys changed and what each
 * adds (PartitionDigests.young), ms: anti-entropy's cutoff (its settle time,
 * a few seconds) must lie within it, clock skew between peers included.
 */
export const PARTITION_RECENT_MS = 60_000
