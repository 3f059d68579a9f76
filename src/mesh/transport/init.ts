import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'

/** Live collaborators of the ZeroMQ transport. */
export interface ZmqTransportComponents { clock: Clock, log: Logger }

export interface ZmqTransportInit {
  peerId: string
  /** Interface the ROUTER binds to (`0.0.0.0` for all). */
  host: string
  /** Mesh port; 0 picks a free one (`address()` then tells which). */
  port: number
  /** The cluster's shared secret; the Curve keys are derived from it. */
  clusterKey: string
  /** Mixed into the key derivation when given: clusters of another name cannot connect either. */
  cluster?: string
  /** Host other peers reach this one at. @default host, or the first non-internal IPv4 (else 127.0.0.1) when host is a wildcard */
  advertiseHost?: string
  /** A body stream with no progress for this long is aborted on both sides, ms. @default STREAM_IDLE_TIMEOUT_MS */
  streamIdleTimeoutMs?: number
  /** Longest wait for a connection and its handshake before ERR_UNAVAILABLE, ms. @default CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number
  /** Refused traffic is logged as one summary line per this interval, ms. @default REJECT_SUMMARY_INTERVAL_MS */
  rejectSummaryMs?: number
}
