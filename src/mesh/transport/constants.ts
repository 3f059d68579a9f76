/** Default deadline of a request's reply, ms. */
export const REQUEST_TIMEOUT_MS = 5_000
/** Bytes per frame of a streamed body. */
export const STREAM_CHUNK_BYTES = 256 * 1024
/** Chunks a receiver lets a sender have in flight before it must wait for credit. */
export const STREAM_CREDIT_CHUNKS = 8
/** Largest message frame accepted; bigger frames are dropped as malformed. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024
/** Outgoing messages queued per peer before send() reports back-pressure. */
export const SEND_HIGH_WATER_MARK = 1_000
/** Wire format version; a frame with another `v` is rejected. */
export const WIRE_VERSION = 1
/**
 * How long a first send waits for the TCP connection and the Curve handshake
 * to a peer, and how long a TCP connect() may take, ms; past it the request
 * fails with ERR_UNAVAILABLE. A refused connection fails at once.
 */
export const CONNECT_TIMEOUT_MS = 2_000
/** After a peer could not be reached, requests to it fail at once for this long, ms (no reconnect storm). */
export const UNREACHABLE_BACKOFF_MS = 250
/** A streamed body whose other side makes no progress for this long is aborted on both sides, ms. */
export const STREAM_IDLE_TIMEOUT_MS = 30_000
/** A connection whose ZMTP handshake (Curve included) takes longer is closed, ms. */
export const HANDSHAKE_TIMEOUT_MS = 5_000
/** Interval of ZMTP heartbeats on every connection, ms; a silent peer is dropped after HEARTBEAT_TIMEOUT_MS. */
export const HEARTBEAT_INTERVAL_MS = 2_000
/** A connection that hears nothing for this long after a heartbeat is closed, ms. */
export const HEARTBEAT_TIMEOUT_MS = 6_000
/** libzmq's queue of the ROUTER towards each requester, messages; replies past it are dropped and logged. */
export const ROUTER_HIGH_WATER_MARK = 100_000
/** How long unsent messages may linger in libzmq after a socket closes, ms. */
export const LINGER_MS = 500
/** Log at most one line per this interval for replies dropped; the others are counted, ms. */
export const REJECT_LOG_INTERVAL_MS = 1_000
/**
 * Refused mesh traffic (failed handshakes, random bytes, malformed frames):
 * the first after a quiet interval is logged at once, the rest as one summary
 * line with their count per this interval, ms.
 */
export const REJECT_SUMMARY_INTERVAL_MS = 10_000
/** Remote addresses named in one rejection summary line, at most. */
export const MAX_LOGGED_REMOTES = 16
/** A peer that refuses our handshake is warned about at most once per this interval, per address, ms. */
export const REFUSED_WARN_INTERVAL_MS = 60_000
