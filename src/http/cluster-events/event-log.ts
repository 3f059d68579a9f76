// The bounded, numbered log behind `GET /events` (EVENTS-CONTRACT): every
// event the collector records gets the next id and its frame is built once;
// a stream replays the ones after a client's Last-Event-ID, then follows.
import type { Topic } from './topics.js'

/** One recorded event: its id, its topic, and its text on the wire. */
export interface LoggedEvent {
  readonly id: number
  readonly topic: Topic
  /** `id: …\nevent: …\ndata: …\n\n`. */
  readonly frame: string
}

/** The text of one server-sent event; `id` absent for those outside the log (hello, reset, snapshots). */
export function eventFrame (event: string, data: unknown, id?: number): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * The last `capacity` events, numbered from `firstId` up by one. The first
 * id is the peer's start time in ms x 1000 (see ClusterEventFeed), so a
 * restarted peer's ids are above every id of its earlier life: an id a
 * client kept from before is then older than the log, and it is told to
 * re-read state rather than be sent the wrong events.
 */
export class EventLog {
  private readonly ring: Array<LoggedEvent | undefined>
  private readonly listeners = new Set<(e: LoggedEvent) => void>()
  private nextId: number

  constructor (readonly capacity: number, private readonly firstId = 1) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`)
    this.ring = new Array<LoggedEvent | undefined>(capacity)
    this.nextId = firstId
  }

  /** The id of the newest event (firstId - 1 before the first). */
  lastId (): number { return this.nextId - 1 }

  /** The oldest id still held. */
  oldestId (): number { return Math.max(this.firstId, this.nextId - this.capacity) }

  /** Records an event (its data as one JSON object) and tells the followers. */
  append (topic: Topic, data: unknown): LoggedEvent {
    const id = this.nextId++
    const e: LoggedEvent = { id, topic, frame: eventFrame(topic, data, id) }
    this.ring[id % this.capacity] = e
    for (const fn of this.listeners) fn(e)
    return e
  }

  /**
   * Every event after `id`, oldest first, when all of them are still held;
   * undefined when some are gone (`id` is older than the log) or `id` was
   * never given (above the last one: a client of another peer, or of this
   * peer's earlier life).
   */
  after (id: number): LoggedEvent[] | undefined {
    const last = this.lastId()
    if (id > last || id < this.oldestId() - 1) return undefined
    const out: LoggedEvent[] = []
    for (let i = id + 1; i <= last; i++) out.push(this.ring[i % this.capacity] as LoggedEvent)
    return out
  }

  /** Calls `fn` with each event appended from now on; returns the function that stops it. */
  follow (fn: (e: LoggedEvent) => void): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }
}
