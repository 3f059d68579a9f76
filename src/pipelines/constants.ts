// Defaults and limits of the pipelines layer (issue 17). Each component takes
// its own Init and defaults it with `??` against these.

/** Unacked packets a sender holds per (stage, peer): its credit window. */
export const CREDIT_WINDOW = 256
/** A packet unacked this long is sent again to the same live peer (whose dedup window answers), ms. */
export const ACK_TIMEOUT_MS = 60_000
/** A nacked packet (full inbox, stopped stage) is routed again after this long, ms. */
export const NACK_RETRY_MS = 200
/** How long an output whose tag no stage consumes yet waits for the graph to learn one before it is dropped, ms (peers learn the catalog at different moments). */
export const ORPHAN_HOLD_MS = 30_000
/** A waiting packet is served as if one priority level higher per this long, ms (anti-starvation). */
export const AGING_MS = 1_000
/** Dedup window of a stage on a peer: ids kept at most. */
export const DEDUP_MAX_IDS = 100_000
/** Dedup window of a stage on a peer: an id is forgotten after this long, ms. */
export const DEDUP_MAX_AGE_MS = 10 * 60_000
/** Start another instance while the inbox holds more than this many packets per instance. */
export const SCALE_BACKLOG_PER_INSTANCE = 8
/** Backoff of a failing run or setup: first delay and largest delay, ms. */
export const RETRY_BASE_MS = 100
export const RETRY_CAP_MS = 10_000
/**
 * Packets handed to a stage instance beyond the one it runs, at most: they
 * cross to its thread or process together (one message, not a round trip
 * each). How many it gets is what fits in RUN_AHEAD_MS of its measured run
 * time (core/run-ahead.ts), so a packet of higher priority arriving later
 * waits behind about that much work, and a slow stage's backlog stays in
 * the inbox for the instances that scaling starts.
 */
export const RUN_AHEAD = 128
/** Queued work a stage instance is handed beyond the packet it runs, by its measured run time, ms. */
export const RUN_AHEAD_MS = 10
/** Packets handed beyond the one it runs to an instance none of whose runs was measured yet. */
export const RUN_AHEAD_START = 8
/** Payloads pulled from a source instance at once. */
export const SOURCE_PULL_MAX = 128
/** Errors kept per stage for the status, newest first. */
export const STATUS_ERRORS = 5
/** The window of the processed rate, ms. */
export const RATE_WINDOW_MS = 5_000
/** Store prefixes: the dead-letter lists and the payloads too large to travel inline. */
export const DLQ_PREFIX = '/_pipelines/dlq'
export const PAYLOAD_PREFIX = '/_pipelines/payloads'
/**
 * Payload bytes one pipe.push carries at most (a packet over it goes alone;
 * inline payloads are at most 1 MiB): the transport refuses frames over 4
 * MiB, and the packets a busy turn sends to one stage on one peer can hold
 * far more (the credit window times the payload size).
 */
export const PUSH_MAX_BYTES = 1024 * 1024
/** Wire version of the pipe.* messages (2: a push carries its packets as columns; 3: pushes are batches acked by batch id). */
export const PIPE_WIRE_VERSION = 3
