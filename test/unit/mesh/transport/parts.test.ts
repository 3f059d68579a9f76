import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../../src/common/errors.js'
import { STREAM_CHUNK_BYTES, STREAM_CREDIT_CHUNKS, WIRE_VERSION } from '../../../../src/mesh/transport/constants.js'
import { Deadlines, type DeadlineList, type Deadlined } from '../../../../src/mesh/transport/deadlines.js'
import { SendQueue } from '../../../../src/mesh/transport/send-queue.js'
import { InboundStream, OutboundStream } from '../../../../src/mesh/transport/stream.js'
import { Kind, decode, encode, unbatch } from '../../../../src/mesh/transport/wire.js'
import { isMeshAddress } from '../../../../src/mesh/transport/address.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

class Item implements Deadlined {
  deadline = 0
  deadlinePrev: Deadlined | undefined
  deadlineNext: Deadlined | undefined
  deadlineList: DeadlineList | undefined
  expired = false
  expire (): void { this.expired = true }
}

describe('Deadlines', () => {
  it('expires entries in deadline order with one timer per timeout, and skips removed ones', () => {
    const clock = new ManualClock()
    const d = new Deadlines(clock)
    const a = new Item()
    const b = new Item()
    const c = new Item()
    const short = new Item()
    d.add(a, 100)
    clock.advance(10)
    d.add(b, 100)
    d.add(short, 20)
    d.add(c, 100)
    d.remove(b)
    expect(clock.pendingTimers()).toBe(2)
    clock.advance(20)
    expect([a.expired, short.expired]).toEqual([false, true])
    clock.advance(69)
    expect(a.expired).toBe(false)
    clock.advance(1)
    expect(a.expired).toBe(true)
    clock.advance(10)
    expect([b.expired, c.expired]).toEqual([false, true])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('clear() cancels every timer', () => {
    const clock = new ManualClock()
    const d = new Deadlines(clock)
    const a = new Item()
    d.add(a, 50)
    d.clear()
    clock.advance(100)
    expect(a.expired).toBe(false)
    expect(clock.pendingTimers()).toBe(0)
  })
})

describe('SendQueue', () => {
  /** A socket whose send() stays pending until released, and fails if called while another is pending. */
  function fakeSocket (): { socket: { send: (m: Array<Buffer | Uint8Array>) => Promise<void> }, sent: Buffer[][], release: () => void, overlaps: number } {
    const state = { sent: [] as Buffer[][], overlaps: 0, pending: undefined as (() => void) | undefined }
    const socket = {
      send: async (m: Array<Buffer | Uint8Array>): Promise<void> => {
        if (state.pending !== undefined) state.overlaps++
        state.sent.push(m.map(f => Buffer.from(f)))
        await new Promise<void>(resolve => { state.pending = () => { state.pending = undefined; resolve() } })
      }
    }
    return { socket, sent: state.sent, release: () => state.pending?.(), get overlaps () { return state.overlaps } }
  }

  /** The messages inside what was sent, batches opened (after `skip` routing frames). */
  function opened (sent: Buffer[][], skip = 0): Buffer[][] {
    return sent.flatMap(m => {
      const h = decode(m[skip])
      if (typeof h === 'string' || h.k !== Kind.BATCH) return [m]
      const parts = unbatch(m, skip, h.n)
      if (typeof parts === 'string') throw new Error(parts)
      return parts.map(p => [...m.slice(0, skip), ...p])
    })
  }

  const frame = (n: number): Buffer => encode({ v: WIRE_VERSION, k: Kind.END, id: n })
  const idOf = (m: Buffer[], skip = 0): number => (decode(m[skip]) as { id: number }).id

  const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

  it('sends the requests one event-loop turn queued as one batch, never overlaps sends, keeps order, and refuses bounded pushes past its limit', async () => {
    const f = fakeSocket()
    const q = new SendQueue(f.socket, 2, () => {})
    expect(q.push([frame(1)], true)).toBe(true)
    expect(q.push([frame(2)], true)).toBe(true)
    expect(q.push([frame(3)], true)).toBe(false) // two already wait
    expect(q.push([frame(4), Buffer.from('data')], false)).toBe(true) // stream and control frames always go in
    expect(f.sent.length).toBe(0) // nothing before the turn ends
    await turn()
    expect(f.sent.length).toBe(1) // 1, 2 and 4 in one batch
    q.push([frame(5)], true) // while that send is pending
    q.push([frame(6)], true)
    for (let i = 0; i < 3; i++) {
      f.release()
      await turn()
    }
    expect(f.sent.length).toBe(2)
    const messages = opened(f.sent)
    expect(messages.map(m => idOf(m))).toEqual([1, 2, 4, 5, 6])
    expect(messages[2][1].toString()).toBe('data')
    expect(f.overlaps).toBe(0)
    // A lone message goes as itself, not as a batch of one.
    q.push([frame(7)], true)
    f.release()
    await turn()
    expect(decode(f.sent[2][0])).toMatchObject({ k: Kind.END, id: 7 })
  })

  it('batches only messages to one routing id on a ROUTER, and keeps each destination in order', async () => {
    const f = fakeSocket()
    const q = new SendQueue(f.socket, Infinity, () => {}, true)
    const [a, b] = [Buffer.from('ridA'), Buffer.from('ridB')]
    // Replies (unbounded) to a free socket go at once; the ones queued behind batch per routing id.
    q.push([a, frame(1)], false)
    q.push([a, frame(2)], false)
    q.push([b, frame(3)], false)
    q.push([a, frame(4)], false)
    for (let i = 0; i < 4; i++) {
      await turn()
      f.release()
    }
    expect(f.sent.map(m => m[0].toString())).toEqual(['ridA', 'ridA', 'ridB', 'ridA'])
    expect(f.sent[1].length).toBe(2) // rid and frame 2: a lone message is sent as itself
    expect(opened(f.sent, 1).map(m => `${m[0].toString()}:${idOf(m, 1)}`)).toEqual(['ridA:1', 'ridA:2', 'ridB:3', 'ridA:4'])
  })

  it('tells the failure callback of each message dropped on close, and of each message of a failed batch', async () => {
    const f = fakeSocket()
    const q = new SendQueue(f.socket, 10, () => {})
    const failed: string[] = []
    q.push([frame(1)], true)
    q.push([frame(2)], true, () => failed.push('fn'))
    q.push([frame(3)], true, { sendFailed: () => failed.push('obj') })
    q.close(new Error('closed'))
    expect(failed).toEqual(['fn', 'obj'])
    expect(q.push([frame(4)], false)).toBe(false)

    const errors: unknown[] = []
    const failing = new SendQueue({ send: async () => { throw new Error('EAGAIN') } }, 10, err => errors.push(err))
    const told: number[] = []
    failing.push([frame(1)], true)
    failing.push([frame(2)], true, () => told.push(2))
    failing.push([frame(3)], true)
    await turn()
    expect(told).toEqual([2])
    expect(errors.length).toBe(2)
  })
})

describe('body streams', () => {
  it('hand credit back in batches as the reader consumes, and fail a sender that overruns it', async () => {
    const clock = new ManualClock()
    const credits: number[] = []
    let stops = 0
    const s = new InboundStream({ clock, idleMs: 1000, credit: n => credits.push(n), stop: () => { stops++ }, closed: () => {} })
    let seq = 0
    for (let i = 0; i < STREAM_CREDIT_CHUNKS; i++) s.push(Buffer.alloc(1), seq++)
    for (let i = 0; i < STREAM_CREDIT_CHUNKS; i++) await s.next()
    expect(credits.reduce((a, b) => a + b, 0)).toBe(STREAM_CREDIT_CHUNKS)
    for (let i = 0; i <= STREAM_CREDIT_CHUNKS; i++) s.push(Buffer.alloc(1), seq++)
    expect(stops).toBe(1)
    await expect(s.next()).rejects.toSatisfy(e => isPmzError(e, 'ERR_BAD_REQUEST'))
  })

  it('fail on a lost chunk rather than hand out a body with a hole', async () => {
    const clock = new ManualClock()
    const s = new InboundStream({ clock, idleMs: 1000, credit: () => {}, stop: () => {}, closed: () => {} })
    s.push(Buffer.from('a'), 0)
    s.push(Buffer.from('c'), 2)
    await expect(s.next()).rejects.toSatisfy(e => isPmzError(e, 'ERR_CORRUPT'))
  })

  it('time out a reader waiting on a silent sender', async () => {
    const clock = new ManualClock()
    let stops = 0
    const s = new InboundStream({ clock, idleMs: 500, credit: () => {}, stop: () => { stops++ }, closed: () => {} })
    const next = s.next()
    clock.advance(500)
    await expect(next).rejects.toSatisfy(e => isPmzError(e, 'ERR_TIMEOUT'))
    expect(stops).toBe(1)
  })

  it('cut a source into chunks and wait for credit', async () => {
    const clock = new ManualClock()
    const sent: number[] = []
    let ended = false
    const big = Buffer.alloc(STREAM_CHUNK_BYTES * (STREAM_CREDIT_CHUNKS + 2) + 1)
    const o = new OutboundStream((async function * () { yield big })(), {
      clock, idleMs: 1000, data: c => sent.push(c.byteLength), end: () => { ended = true }, abort: () => {}, closed: () => {}
    })
    const done = o.run()
    await clock.advanceAsync(0)
    expect(sent).toHaveLength(STREAM_CREDIT_CHUNKS)
    o.grant(3)
    await done
    expect(sent).toHaveLength(STREAM_CREDIT_CHUNKS + 3)
    expect(sent.at(-1)).toBe(1)
    expect(ended).toBe(true)
  })

  it('abort a sender that gets no credit within the idle timeout', async () => {
    const clock = new ManualClock()
    let aborted: string | undefined
    let closed = false
    const o = new OutboundStream((async function * () { for (;;) yield Buffer.alloc(10) })(), {
      clock, idleMs: 1000, data: () => {}, end: () => {}, abort: e => { aborted = e.code }, closed: () => { closed = true }
    })
    const done = o.run()
    await clock.advanceAsync(1000)
    await done
    expect(aborted).toBe('ERR_TIMEOUT')
    expect(closed).toBe(true)
  })
})

describe('wire', () => {
  it('round-trips headers and refuses what it cannot read', () => {
    const h = { v: WIRE_VERSION, k: Kind.REQ, id: 7, m: { type: 'x', n: 1 }, f: 'p', a: 'h:1', t: 100 } as const
    expect(decode(encode(h))).toEqual(h)
    expect(decode(Buffer.from([0xc1]))).toBeTypeOf('string')
    expect(decode(encode({ ...h, v: WIRE_VERSION + 1 }))).toMatch(/version/)
    expect(decode(encode({ ...h, m: { type: 3 } } as never))).toBeTypeOf('string')
    expect(decode(encode({ v: WIRE_VERSION, k: Kind.CREDIT, id: 1, n: 0 }))).toBeTypeOf('string')
  })

  it('knows a dialable address', () => {
    for (const a of ['127.0.0.1:31415', 'host.lan:1', '[::1]:5000']) expect(isMeshAddress(a)).toBe(true)
    for (const a of ['127.0.0.1', 'host:0', 'host:70000', ':1', 'a b:1', '']) expect(isMeshAddress(a)).toBe(false)
  })
})
