import type { Transport } from './types.js'
import type { ZmqTransportComponents, ZmqTransportInit } from './init.js'
import { ZmqTransport } from './zmq-transport.js'

export type { IncomingRequest, Message, MessageHandler, Reply, RequestHandler, RequestOptions, Sender, Transport, TransportRejectEvent } from './types.js'
export { isReply } from './types.js'
export { MemoryNetwork, MemoryTransport, type MemoryNetworkInit } from './memory-transport.js'
export { deriveCurveKeys, type CurveKeys } from './curve.js'
export * from './constants.js'
export { advertisedHost } from './address.js'

/** Live collaborators of the transport. */
export type TransportComponents = ZmqTransportComponents
/** Options of the transport; see {@link ZmqTransportInit} for each one's unit and default. */
export type TransportInit = ZmqTransportInit

/**
 * The mesh transport of a peer: ZeroMQ over TCP, encrypted and authenticated
 * with Curve keys derived from `init.clusterKey`. Bound on start().
 */
export function createTransport (components: TransportComponents, init: TransportInit): Transport {
  return new ZmqTransport(components, init)
}
