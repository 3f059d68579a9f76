import { EventEmitter } from 'node:events'
import type { MessageHandler, RequestHandler, TransportRejectEvent } from './types.js'

/**
 * What every transport keeps of its users: the request handler and the
 * message listener of each type, and the listeners of its events. Both the
 * ZeroMQ and the in-memory transport extend it, so registration behaves
 * the same in both.
 */
export abstract class Registrations {
  protected readonly handlers = new Map<string, RequestHandler>()
  protected readonly listeners = new Map<string, MessageHandler>()
  protected readonly events = new EventEmitter()

  /** Registers the handler of a request type; returns a function that removes it. */
  handle (type: string, handler: RequestHandler): () => void {
    this.handlers.set(type, handler)
    return () => { if (this.handlers.get(type) === handler) this.handlers.delete(type) }
  }

  /** Registers the handler of a one-way message type; returns a function that removes it. */
  onMessage (type: string, handler: MessageHandler): () => void {
    this.listeners.set(type, handler)
    return () => { if (this.listeners.get(type) === handler) this.listeners.delete(type) }
  }

  on (event: 'transport:rejected', fn: (e: TransportRejectEvent) => void): () => void {
    this.events.on(event, fn)
    return () => { this.events.off(event, fn) }
  }
}
