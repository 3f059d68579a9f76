/** How long a replica may take to answer for its record of a key, ms (a read's survey). */
export const SURVEY_TIMEOUT_MS = 2_000
/** A read's survey asks R replicas; when they have not all answered after this long it asks the others too, ms. */
export const SURVEY_SPECULATE_MS = 100
/** Deadline of a replicated write's reply, which comes after the whole body, ms; a stalled body is cut sooner (SINK_STALL_MS). */
export const PUT_TIMEOUT_MS = 60_000
/** Deadline of a tombstone's or a list's reply, ms. */
export const ACK_TIMEOUT_MS = 5_000
/** A streamed value goes to its replicas in pieces of this size (fanout inPiecesOf): the transport's chunk, and the store's. */
export const STREAM_PIECE_BYTES = 256 * 1024
/** A piece of a streamed value that is still short goes on anyway once the client sent nothing more for this long, ms. */
export const STREAM_PIECE_WAIT_MS = 5
/** Bytes queued per replica of a write before the upload waits for the slowest replica (bounded memory per upload). */
export const FANOUT_HIGH_WATER_BYTES = 1024 * 1024
/** A replica whose queue stays full this long is dropped from the write (it stalls, or died), ms. */
export const SINK_STALL_MS = 15_000
/**
 * Values up to this size travel inside the request or reply message (one
 * ZeroMQ message each way) rather than as a flow-controlled body stream.
 */
export const INLINE_MAX_BYTES = 64 * 1024
/** Values up to this size are read whole from a remote replica and verified before the answer starts (so a bad copy falls back). */
export const READ_WHOLE_MAX_BYTES = 256 * 1024
/** Read repairs in flight at once per peer; past it a repair is skipped (a later read or anti-entropy catches up). */
export const MAX_CONCURRENT_REPAIRS = 32
/** Chosen writes waiting per replica to be told with the next request to it (ReplicaClient.learn); past it the oldest are dropped. */
export const LEARN_MAX_PENDING = 4_096
/** Chosen writes told with one request at most. */
export const LEARN_PER_MESSAGE = 512
/** Version of the replication messages. */
export const REPLICATION_V = 1
/** Hints (missed writes) kept per target replica; past it the target waits for anti-entropy. */
export const MAX_HINTS_PER_TARGET = 100_000
/** Period of the hinted-handoff pass over every target with hints, ms. */
export const HINT_INTERVAL_MS = 10_000
/** Delay between a target's return (membership alive/join) and its hints' delivery, ms. */
export const HINT_DELIVERY_DELAY_MS = 250
/** Hints read per batch of a delivery pass. */
export const HINT_BATCH = 64
/** Hints delivered at once (the throttle). */
export const HINT_CONCURRENCY = 4
/** Period of an anti-entropy round when every peer sharing ranges was confirmed in sync, ms (jittered ±20 %). */
export const ANTI_ENTROPY_INTERVAL_MS = 5_000
/** Period of a round while repair is pending (a ring change, a peer not yet confirmed, keys to hand off), ms (jittered). */
export const ANTI_ENTROPY_BUSY_INTERVAL_MS = 500
/** Keys pushed, pulled or handed off per round at most (the throttle; the rest waits for the next round). */
export const ANTI_ENTROPY_MAX_KEYS = 1024
/** Value bytes moved per round at most (a larger value still moves, alone). */
export const ANTI_ENTROPY_MAX_BYTES = 32 * 1024 * 1024
/**
 * Anti-entropy compares only versions older than this, ms: a write still
 * reaching its replicas is the write path's (and hinted handoff's) business,
 * and comparing it would only move the same value twice and keep the
 * rounds busy under a steady write load.
 */
export const ANTI_ENTROPY_SETTLE_MS = 2_000
/**
 * A peer confirmed in sync, with no change here in the partitions shared
 * with it, is compared again after this long all the same, ms (a check on
 * the bookkeeping that lets quiet rounds skip it; costs a pass over the
 * partition digests, not over the keys).
 */
export const ANTI_ENTROPY_VERIFY_MS = 60_000
/** Transfers in flight at once within a round. */
export const ANTI_ENTROPY_CONCURRENCY = 8
/** A volume peer dead for longer than this leaves the placement ring, and its keys are re-replicated, ms. */
export const DEAD_PEER_GRACE_MS = 30_000
/** Peers not yet confirmed in sync compared with in one round at most (one round after a ring change reaches them all). */
export const ANTI_ENTROPY_MAX_PEERS = 4
/** Ballots a register proposal tries before it gives up (each lost to a concurrent proposal of the same key). */
export const REGISTER_MAX_ATTEMPTS = 24
/** Backoff after the first lost ballot, ms; it doubles with each further loss (jittered, see register-rules backoffMs). */
export const REGISTER_BACKOFF_BASE_MS = 5
/** Backoff ceiling, ms. */
export const REGISTER_BACKOFF_MAX_MS = 200
