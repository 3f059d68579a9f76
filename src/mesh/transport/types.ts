import type { Startable } from '../../common/startable.js'

/**
 * A message on the mesh: a msgpack-able object whose `type` names the
 * protocol and verb (`swim.ping`, `raft.vote`, `store.put`). Each protocol
 * keeps its messages as a discriminated union in its own `messages.ts`.
 */
export interface Message {
  type: string
  [field: string]: unknown
}

/** Who sent a message: the peer id and mesh address the sender claims (authenticated by the cluster key). */
export interface Sender {
  peerId: string
  /** `host:port` of the sender's ROUTER; where to send requests back. */
  address: string
}

/**
 * A reply that carries a byte stream after its message (a value being read).
 * A handler returns either a plain {@link Message} or this; a plain message
 * always has a string `type`, a `Reply` never does.
 */
export interface Reply {
  msg: Message
  /** Streamed to the requester with credit-based flow control. */
  body?: AsyncIterable<Uint8Array>
}

export interface IncomingRequest {
  msg: Message
  from: Sender
  /** The request's byte stream, when the sender attached one; read it or the sender stalls. */
  body?: AsyncIterable<Uint8Array>
  /** Fires when the requester's deadline passes or the transport stops. */
  signal: AbortSignal
}

/**
 * Answers a request. A thrown PmzError reaches the requester with its code
 * (rebuilt on the other side); any other throw becomes ERR_INTERNAL there.
 */
export type RequestHandler = (req: IncomingRequest) => Promise<Message | Reply> | Message | Reply

/** Receives a one-way message. */
export type MessageHandler = (msg: Message, from: Sender) => void

export interface RequestOptions {
  /** Deadline for the reply's message (not its body). @default REQUEST_TIMEOUT_MS */
  timeoutMs?: number
  signal?: AbortSignal
  /** A byte stream sent after the message, under the receiver's flow-control credit. */
  body?: AsyncIterable<Uint8Array>
}

/** Emitted when the transport refuses traffic (wrong key, malformed frames); the peer keeps serving. */
export interface TransportRejectEvent {
  type: 'rejected'
  /** Remote address, when known. */
  remote?: string
  reason: string
}

/**
 * Request/reply and one-way messages between peers, addressed by mesh
 * address (`host:port`). Errors are typed: ERR_TIMEOUT when a deadline
 * passes, ERR_UNAVAILABLE when the peer cannot be reached, the handler's own
 * code when it throws, ERR_SHUTTING_DOWN once stopped. Never a hang.
 */
export interface Transport extends Startable {
  readonly peerId: string
  /** `host:port` other peers reach this one at; valid after start(). */
  address(): string
  request(to: string, msg: Message, options?: RequestOptions): Promise<Reply>
  /**
   * Sends a one-way message, best effort: false when it was dropped at once
   * (peer unreachable, queue full); true does not mean it arrived.
   */
  send(to: string, msg: Message): boolean
  /** Registers the handler of a request type; returns a function that removes it. */
  handle(type: string, handler: RequestHandler): () => void
  /** Registers the handler of a one-way message type; returns a function that removes it. */
  onMessage(type: string, handler: MessageHandler): () => void
  on(event: 'transport:rejected', fn: (e: TransportRejectEvent) => void): () => void
  /** Closes the connection to a peer (it is dead or left); a later request reconnects. */
  disconnect(to: string): void
}

/** True when a handler's result is a {@link Reply} rather than a plain message. */
export function isReply (r: Message | Reply): r is Reply {
  return typeof (r as Message).type !== 'string'
}
