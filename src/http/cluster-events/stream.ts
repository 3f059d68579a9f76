import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { KEEP_ALIVE_MS } from './constants.js'
import type { LoggedEvent } from './event-log.js'
import type { Topic } from './topics.js'

/** The part of a response (or socket) a stream writes to. */
export interface StreamSink {
  write(chunk: string): boolean
  once(event: 'drain', fn: () => void): unknown
  end(): unknown
  destroy(): unknown
  readonly writableEnded: boolean
}

export interface EventStreamOptions {
  topics: ReadonlySet<Topic>
  /** Bytes held for a socket that does not drain; one more and the stream is closed. */
  maxQueueBytes: number
  clock: Clock
  log: Logger
  /** Called once when the stream closes, whatever the reason. */
  onClose: () => void
  /** @default KEEP_ALIVE_MS */
  keepAliveMs?: number
}

/**
 * One client's stream of `GET /events`. Frames go straight to the socket
 * while it takes them (`write` returns true); once it does not, they wait in
 * a queue bounded in bytes until `drain`, and a frame that would overflow it
 * closes the stream (logged at info): a client that does not read costs this
 * peer at most `maxQueueBytes` (plus what the socket already holds). Until
 * `open` (the head: hello, reset, snapshots) every frame waits in the queue.
 */
export class EventStream {
  private readonly queue: string[] = []
  private head = 0
  private queuedBytes = 0
  private waiting = true
  private closed = false
  private readonly keepAlive: Timer

  constructor (private readonly sink: StreamSink, private readonly o: EventStreamOptions) {
    this.keepAlive = o.clock.setInterval(() => { this.send(': keep-alive\n\n') }, o.keepAliveMs ?? KEEP_ALIVE_MS)
  }

  /** Bytes waiting for the socket. */
  queued (): number { return this.queuedBytes }

  isClosed (): boolean { return this.closed }

  /** Writes the head frames, then what waited for them. */
  open (head: readonly string[]): void {
    if (this.closed) return
    for (const f of head) this.sink.write(f)
    this.waiting = false
    this.flush()
  }

  /** Sends a logged event when its topic was asked for. */
  push (e: LoggedEvent): void {
    if (this.o.topics.has(e.topic)) this.send(e.frame)
  }

  /** Ends the response (idempotent); `destroy` cuts the connection instead of ending it cleanly. */
  close (destroy = false): void {
    if (this.closed) return
    this.closed = true
    this.keepAlive.cancel()
    this.queue.length = 0
    this.head = 0
    this.queuedBytes = 0
    if (destroy) this.sink.destroy()
    else if (!this.sink.writableEnded) this.sink.end()
    this.o.onClose()
  }

  private send (frame: string): void {
    if (this.closed) return
    if (!this.waiting) {
      if (!this.sink.write(frame)) this.waitForDrain()
      return
    }
    const bytes = Buffer.byteLength(frame)
    if (this.queuedBytes + bytes > this.o.maxQueueBytes) {
      this.o.log.info({ queuedBytes: this.queuedBytes, maxQueueBytes: this.o.maxQueueBytes }, 'event stream client too slow; closed')
      this.close(true)
      return
    }
    this.queue.push(frame)
    this.queuedBytes += bytes
  }

  private waitForDrain (): void {
    this.waiting = true
    this.sink.once('drain', () => {
      if (this.closed) return
      this.waiting = false
      this.flush()
    })
  }

  private flush (): void {
    while (!this.waiting && this.head < this.queue.length) {
      const frame = this.queue[this.head]
      this.queue[this.head++] = ''
      this.queuedBytes -= Buffer.byteLength(frame)
      if (!this.sink.write(frame)) this.waitForDrain()
    }
    // Drop the sent prefix now and then, so a queue that keeps refilling does not grow.
    if (this.head === this.queue.length) {
      this.queue.length = 0
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
  }
}
