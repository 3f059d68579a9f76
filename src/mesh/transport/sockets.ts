import * as zmq from 'zeromq'
import {
  HANDSHAKE_TIMEOUT_MS, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, LINGER_MS, MAX_FRAME_BYTES, ROUTER_HIGH_WATER_MARK
} from './constants.js'
import type { CurveKeys } from './curve.js'

/** Room libzmq needs over our largest frame (Curve box and framing): bigger frames drop the connection. */
const MAX_WIRE_FRAME_BYTES = MAX_FRAME_BYTES + 1024

/** Options every mesh socket shares: bounded frames and handshakes, ZMTP heartbeats to notice a silent peer. */
const COMMON = {
  linger: LINGER_MS,
  maxMessageSize: MAX_WIRE_FRAME_BYTES,
  handshakeInterval: HANDSHAKE_TIMEOUT_MS,
  heartbeatInterval: HEARTBEAT_INTERVAL_MS,
  heartbeatTimeout: HEARTBEAT_TIMEOUT_MS
} as const

/**
 * The ROUTER a peer binds: a Curve server whose ZAP domain says which client
 * key it admits. `mandatory` makes a reply to a requester that is gone throw
 * EHOSTUNREACH rather than vanish; a zero send timeout never lets one slow
 * requester block the replies to all the others (past its high-water mark a
 * reply is dropped and logged).
 */
export function createRouter (context: zmq.Context, keys: CurveKeys, zapDomain: string, ipv6: boolean): zmq.Router {
  return new zmq.Router({
    ...COMMON,
    context,
    mandatory: true,
    sendTimeout: 0,
    sendHighWaterMark: ROUTER_HIGH_WATER_MARK,
    receiveHighWaterMark: ROUTER_HIGH_WATER_MARK,
    ipv6,
    curveServer: true,
    curveSecretKey: keys.serverSecretKey,
    zapDomain
  })
}

/**
 * A DEALER to one peer, as a Curve client. `immediate` keeps messages out of
 * libzmq until the handshake is done, so a send to a peer that cannot be
 * reached waits at most `timeoutMs` and fails with EAGAIN; the connect() call
 * itself is bounded by the same time.
 */
export function createDealer (context: zmq.Context, keys: CurveKeys, timeoutMs: number, ipv6: boolean): zmq.Dealer {
  return new zmq.Dealer({
    ...COMMON,
    context,
    immediate: true,
    sendTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    ipv6,
    curveServerKey: keys.serverPublicKey,
    curvePublicKey: keys.clientPublicKey,
    curveSecretKey: keys.clientSecretKey
  })
}
