import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { EventLog } from '../../../../src/http/cluster-events/event-log.js'
import { EventStream, type StreamSink } from '../../../../src/http/cluster-events/stream.js'
import type { Topic } from '../../../../src/http/cluster-events/topics.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

/** A socket that takes `room` bytes, then says no until drain() is called. */
class FakeSink implements StreamSink {
  written: string[] = []
  buffered = 0
  ended = false
  destroyed = false
  private drains: Array<() => void> = []
  constructor (public room: number) {}
  get writableEnded (): boolean { return this.ended }
  write (chunk: string): boolean {
    this.written.push(chunk)
    this.buffered += chunk.length
    return this.buffered < this.room
  }

  once (_event: 'drain', fn: () => void): this { this.drains.push(fn); return this }
  end (): void { this.ended = true }
  destroy (): void { this.destroyed = true }
  /** The client read everything. */
  drain (): void {
    this.buffered = 0
    for (const fn of this.drains.splice(0)) fn()
  }
}

function setup (room: number, maxQueueBytes: number, topics: Topic[] = ['keys', 'jobs']): { sink: FakeSink, stream: EventStream, log: EventLog, clock: ManualClock, closed: () => number } {
  const sink = new FakeSink(room)
  const clock = new ManualClock()
  let closes = 0
  const stream = new EventStream(sink, { topics: new Set(topics), maxQueueBytes, clock, log: createLogger({ level: 'silent' }), onClose: () => { closes++ } })
  const log = new EventLog(100)
  log.follow(e => { stream.push(e) })
  return { sink, stream, log, clock, closed: () => closes }
}

describe('EventStream', () => {
  it('holds events until open, then writes the head first and the held events after it, of the topics asked for only', () => {
    const { sink, stream, log } = setup(1e9, 1e6)
    log.append('keys', { n: 1 })
    log.append('peers', { n: 2 })
    expect(sink.written).toEqual([])
    stream.open(['event: hello\ndata: {}\n\n'])
    log.append('jobs', { n: 3 })
    expect(sink.written).toEqual(['event: hello\ndata: {}\n\n', 'id: 1\nevent: keys\ndata: {"n":1}\n\n', 'id: 3\nevent: jobs\ndata: {"n":3}\n\n'])
  })

  it('queues once the socket says no, and sends the queue in order on drain', () => {
    const { sink, stream, log } = setup(60, 1e6)
    stream.open([])
    for (let i = 0; i < 5; i++) log.append('keys', { i })
    // The second write filled the socket: 3 events wait.
    expect(sink.written).toHaveLength(2)
    expect(stream.queued()).toBeGreaterThan(0)
    sink.room = 1e9
    sink.drain()
    expect(sink.written.map(f => JSON.parse(f.split('data: ')[1]).i)).toEqual([0, 1, 2, 3, 4])
    expect(stream.queued()).toBe(0)
  })

  it('closes (destroys) the stream of a client that does not read once its queue would pass the bound; its memory is released', () => {
    const { sink, stream, log, closed } = setup(10, 1000)
    stream.open([])
    for (let i = 0; i < 200 && !stream.isClosed(); i++) log.append('keys', { key: `/k/${i}`, pad: 'x'.repeat(50) })
    expect(stream.isClosed()).toBe(true)
    expect(sink.destroyed).toBe(true)
    expect(stream.queued()).toBe(0)
    expect(closed()).toBe(1)
    // Nothing more is written or queued after the close.
    const count = sink.written.length
    log.append('keys', { after: true })
    expect(sink.written).toHaveLength(count)
  })

  it('sends a keep-alive comment every 15 s, through the same queue', () => {
    const { sink, stream, clock } = setup(1e9, 1e6)
    stream.open([])
    clock.advance(15_000)
    clock.advance(15_000)
    expect(sink.written).toEqual([': keep-alive\n\n', ': keep-alive\n\n'])
    stream.close()
    clock.advance(30_000)
    expect(sink.written).toHaveLength(2)
    expect(sink.ended).toBe(true)
  })
})
