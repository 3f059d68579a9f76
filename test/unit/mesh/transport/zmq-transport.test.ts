import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import * as zmq from 'zeromq'
import { pack } from 'msgpackr'
import { systemClock } from '../../../../src/common/clock.js'
import { createLogger, type Logger } from '../../../../src/common/logger.js'
import {
  MAX_FRAME_BYTES, WIRE_VERSION, createTransport, deriveCurveKeys, type Message, type Transport, type TransportInit, type TransportRejectEvent
} from '../../../../src/mesh/transport/index.js'
import { z85Encode } from '../../../../src/mesh/transport/curve.js'
import { codeOf, elapsed, freePort } from './helpers.js'

const silent = createLogger({ level: 'silent' })

/** A logger whose lines land in `lines`, parsed. */
function memoryLog (): { log: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>) } } })
  return { log, lines }
}

describe('ZmqTransport', () => {
  const open: Transport[] = []
  const sockets: zmq.Socket[] = []
  afterEach(async () => {
    for (const t of open.splice(0)) await t.stop()
    for (const s of sockets.splice(0)) s.close()
  })

  async function start (peerId: string, init: Partial<TransportInit> = {}, log: Logger = silent): Promise<Transport> {
    const t = createTransport({ clock: systemClock, log }, { peerId, host: '127.0.0.1', port: 0, clusterKey: 'good-key', ...init })
    open.push(t)
    await t.start()
    return t
  }

  function rejections (t: Transport): TransportRejectEvent[] {
    const seen: TransportRejectEvent[] = []
    t.on('transport:rejected', e => { seen.push(e) })
    return seen
  }

  async function echoWorks (from: Transport, to: Transport): Promise<void> {
    to.handle('ping', () => ({ type: 'pong' }))
    expect((await from.request(to.address(), { type: 'ping' }, { timeoutMs: 2000 })).msg.type).toBe('pong')
  }

  it('binds a free port for port 0 and advertises a dialable host', async () => {
    const a = await start('a')
    expect(a.address()).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(a.address()).not.toBe('127.0.0.1:0')
    const wild = await start('w', { host: '0.0.0.0' })
    expect(wild.address()).not.toMatch(/^0\.0\.0\.0:/)
    const named = await start('n', { host: '0.0.0.0', advertiseHost: '127.0.0.1' })
    expect(named.address()).toMatch(/^127\.0\.0\.1:\d+$/)
    await echoWorks(a, named)
  })

  it('fails start with ERR_UNAVAILABLE when the port is taken', async () => {
    const a = await start('a')
    const port = Number(a.address().split(':')[1])
    const b = createTransport({ clock: systemClock, log: silent }, { peerId: 'b', host: '127.0.0.1', port, clusterKey: 'good-key' })
    expect(await codeOf(b.start())).toBe('ERR_UNAVAILABLE')
    await b.stop()
  })

  it('never answers a peer with another cluster key, and reports it', async () => {
    const { log, lines } = memoryLog()
    const b = await start('b', {}, log)
    const seen = rejections(b)
    b.handle('ping', () => ({ type: 'pong' }))
    const intruder = await start('x', { clusterKey: 'wrong-key' })
    const t0 = performance.now()
    expect(['ERR_UNAVAILABLE', 'ERR_TIMEOUT']).toContain(await codeOf(intruder.request(b.address(), { type: 'ping' }, { timeoutMs: 1000 })))
    expect(elapsed(t0)).toBeLessThan(2500)
    await vi.waitFor(() => { expect(seen.length).toBeGreaterThan(0) }, { timeout: 3000 })
    expect(seen[0].reason).toMatch(/handshake/)
    expect(lines.some(l => l.msg === 'mesh traffic rejected')).toBe(true)
    await echoWorks(await start('a'), b)
  })

  it('refuses a client that knows the server key but not the client key (ZAP)', async () => {
    const b = await start('b')
    const seen = rejections(b)
    const keys = deriveCurveKeys('good-key')
    const stranger = zmq.curveKeyPair()
    const dealer = new zmq.Dealer({ curveServerKey: keys.serverPublicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey, linger: 0 })
    sockets.push(dealer)
    dealer.connect(`tcp://${b.address()}`)
    await vi.waitFor(() => { expect(seen.some(e => /client key/.test(e.reason))).toBe(true) }, { timeout: 3000 })
    expect(seen.find(e => /client key/.test(e.reason))?.remote).toBe('127.0.0.1')
  })

  it('survives random bytes on the mesh port', async () => {
    const b = await start('b')
    for (let i = 0; i < 5; i++) {
      const socket = connect(Number(b.address().split(':')[1]), '127.0.0.1')
      socket.on('error', () => {})
      await new Promise<void>(resolve => socket.once('connect', resolve))
      // A plausible ZMTP greeting first, then garbage, so the bytes reach past the signature check too.
      const greeting = Buffer.alloc(64)
      greeting[0] = 0xff
      greeting[9] = 0x7f
      greeting[10] = 3
      greeting.write('CURVE', 12)
      socket.write(i % 2 === 0 ? Buffer.concat([greeting, randomBytes(4096)]) : randomBytes(65_536))
      await new Promise<void>(resolve => { socket.end(resolve) })
      socket.destroy()
    }
    await echoWorks(await start('a'), b)
  })

  it('rejects malformed frames from an authenticated peer and keeps serving', async () => {
    const b = await start('b')
    const seen = rejections(b)
    const keys = deriveCurveKeys('good-key')
    const dealer = new zmq.Dealer({ curveServerKey: keys.serverPublicKey, curvePublicKey: keys.clientPublicKey, curveSecretKey: keys.clientSecretKey, linger: 0 })
    sockets.push(dealer)
    dealer.connect(`tcp://${b.address()}`)
    await dealer.send(randomBytes(100))
    await dealer.send(Buffer.from([0xc1])) // never valid msgpack
    await dealer.send(pack({ v: WIRE_VERSION + 1, k: 1, id: 1, m: { type: 'ping' }, f: 'x', a: 'y', t: 100 }))
    await dealer.send(pack({ v: WIRE_VERSION, k: 1, id: 'one', m: { type: 'ping' } }))
    await dealer.send(pack([1, 2, 3]))
    await dealer.send([pack({ v: WIRE_VERSION, k: 6, id: 1 }), Buffer.alloc(1), Buffer.alloc(1)])
    await dealer.send([pack({ v: WIRE_VERSION, k: 11, n: [1, 1] }), pack({ v: WIRE_VERSION, k: 6, id: 1 })]) // counts do not add up
    await dealer.send([pack({ v: WIRE_VERSION, k: 11, n: [3] }), Buffer.alloc(1), Buffer.alloc(1), Buffer.alloc(1)])
    await dealer.send([pack({ v: WIRE_VERSION, k: 11, n: [2] }), pack({ v: WIRE_VERSION, k: 11, n: [1] }), pack({ v: WIRE_VERSION, k: 6, id: 1 })]) // nested
    await vi.waitFor(() => { expect(seen.length).toBeGreaterThanOrEqual(9) }, { timeout: 3000 })
    expect(seen.every(e => /malformed|version/.test(e.reason))).toBe(true)
    await echoWorks(await start('a'), b)
  })

  it('coalesces what queues during a send into batches, and every message of a batch arrives in order', async () => {
    const [a, b] = [await start('a'), await start('b')]
    // Every reply is released at once, so the replies queue behind the first and leave batched.
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    let held = 0
    b.handle('hold', async req => {
      held++
      await gate
      return { type: 'held', n: (req.msg as unknown as { n: number }).n }
    })
    const replies = Array.from({ length: 300 }, async (_, n) => (await a.request(b.address(), { type: 'hold', n }, { timeoutMs: 5000 })).msg)
    await vi.waitFor(() => { expect(held).toBe(300) }, { timeout: 3000 })
    release()
    expect((await Promise.all(replies)).map(m => (m as unknown as { n: number }).n)).toEqual(Array.from({ length: 300 }, (_, n) => n))
    // Bodies too: chunks and ENDs of concurrent calls interleave inside batches.
    b.handle('echo', req => ({ msg: { type: 'echoed' }, body: req.body }))
    const bodies = Array.from({ length: 20 }, () => randomBytes(100_000 + Math.floor(Math.random() * 600_000)))
    const echoed = await Promise.all(bodies.map(async body => {
      const r = await a.request(b.address(), { type: 'echo' }, { timeoutMs: 10_000, body: (async function * () { yield body })() })
      const parts: Uint8Array[] = []
      for await (const p of r.body ?? []) parts.push(p)
      return Buffer.concat(parts)
    }))
    expect(echoed.every((e, i) => e.equals(bodies[i]))).toBe(true)
  })

  it('refuses a message over MAX_FRAME_BYTES with ERR_TOO_LARGE', async () => {
    const [a, b] = [await start('a'), await start('b')]
    expect(await codeOf(a.request(b.address(), { type: 'big', data: Buffer.alloc(MAX_FRAME_BYTES + 1) }))).toBe('ERR_TOO_LARGE')
    expect(a.send(b.address(), { type: 'big', data: Buffer.alloc(MAX_FRAME_BYTES + 1) })).toBe(false)
  })

  it('fails requests in flight with ERR_UNAVAILABLE as soon as the peer goes away', async () => {
    const [a, b] = [await start('a'), await start('b')]
    let started = false
    b.handle('hang', async () => {
      started = true
      return await new Promise<Message>(() => {})
    })
    const pending = codeOf(a.request(b.address(), { type: 'hang' }, { timeoutMs: 15_000 }))
    await vi.waitFor(() => { expect(started).toBe(true) }, { timeout: 3000 })
    const t0 = performance.now()
    await b.stop()
    expect(await pending).toBe('ERR_UNAVAILABLE')
    expect(elapsed(t0)).toBeLessThan(3000)
  })

  it('answers at once for a peer that just proved unreachable', async () => {
    const a = await start('a')
    const to = `127.0.0.1:${await freePort()}`
    expect(await codeOf(a.request(to, { type: 'x' }, { timeoutMs: 5000 }))).toBe('ERR_UNAVAILABLE')
    expect(a.send(to, { type: 'x' })).toBe(false)
    expect(a.send('not an address', { type: 'x' })).toBe(false)
    expect(await codeOf(a.request('not an address', { type: 'x' }))).toBe('ERR_BAD_REQUEST')
  })

  it('reconnects after disconnect(), and logs a reply to a requester that is gone', async () => {
    const { log, lines } = memoryLog()
    const [a, b] = [await start('a'), await start('b', {}, log)]
    let release: (() => void) | undefined
    b.handle('wait', async () => {
      await new Promise<void>(resolve => { release = resolve })
      return { type: 'wait.ok' }
    })
    const pending = codeOf(a.request(b.address(), { type: 'wait' }, { timeoutMs: 5000 }))
    await vi.waitFor(() => { expect(release).toBeDefined() }, { timeout: 3000 })
    a.disconnect(b.address())
    expect(await pending).toBe('ERR_UNAVAILABLE')
    // A new connection works; traffic on it also lets b's ROUTER retire the old one before the late reply.
    await echoWorks(a, b)
    release?.()
    await vi.waitFor(() => { expect(lines.some(l => l.msg === 'reply dropped: requester gone or not reading')).toBe(true) }, { timeout: 3000 })
  })

  it('aborts a reply body on signal and closes the source on the serving side', async () => {
    const [a, b] = [await start('a'), await start('b')]
    let closed = false
    b.handle('endless', () => ({
      msg: { type: 'endless.ok' },
      body: (async function * () {
        try { for (;;) yield randomBytes(65_536) } finally { closed = true }
      })()
    }))
    const ac = new AbortController()
    const reply = await a.request(b.address(), { type: 'endless' }, { signal: ac.signal })
    const it = reply.body?.[Symbol.asyncIterator]()
    expect((await it?.next())?.done).toBe(false)
    ac.abort()
    await vi.waitFor(async () => { expect(await codeOf((async () => { for (;;) if ((await it?.next())?.done !== false) return })())).toBe('ERR_ABORTED') }, { timeout: 3000 })
    await vi.waitFor(() => { expect(closed).toBe(true) }, { timeout: 3000 })
  })

  it('gives up on a reply body nobody reads after the idle timeout, on both sides', async () => {
    const a = await start('a', { streamIdleTimeoutMs: 300 })
    const b = await start('b', { streamIdleTimeoutMs: 300 })
    let closed = false
    b.handle('endless', () => ({
      msg: { type: 'endless.ok' },
      body: (async function * () {
        try { for (;;) yield Buffer.alloc(65_536) } finally { closed = true }
      })()
    }))
    const reply = await a.request(b.address(), { type: 'endless' })
    await vi.waitFor(() => { expect(closed).toBe(true) }, { timeout: 3000 })
    expect(await codeOf((async () => { for await (const _ of reply.body ?? []); })())).toBe('ERR_TIMEOUT')
  })

  it('fails a handler reading a request body whose sender stalls, at the deadline', async () => {
    const [a, b] = [await start('a'), await start('b')]
    let readError: string | undefined
    b.handle('put', async req => {
      readError = await codeOf((async () => { for await (const _ of req.body ?? []); })())
      return { type: 'put.ok' }
    })
    const stalled = (async function * () { yield Buffer.alloc(10); await new Promise(() => {}) })()
    expect(await codeOf(a.request(b.address(), { type: 'put' }, { body: stalled, timeoutMs: 300 }))).toBe('ERR_TIMEOUT')
    await vi.waitFor(() => { expect(readError).toBeDefined() }, { timeout: 3000 })
    expect(['ERR_TIMEOUT', 'ERR_ABORTED']).toContain(readError)
  })
})

describe('Curve keys', () => {
  it('derive the same keys from the same cluster key, others from another key or cluster', () => {
    const k = deriveCurveKeys('secret')
    expect(deriveCurveKeys('secret')).toEqual(k)
    expect(k.serverPublicKey).toHaveLength(40)
    expect(k.clientSecretKey).toHaveLength(40)
    expect(k.serverPublicKey).not.toBe(k.clientPublicKey)
    expect(deriveCurveKeys('Secret').serverPublicKey).not.toBe(k.serverPublicKey)
    expect(deriveCurveKeys('secret', 'other-cluster').serverPublicKey).not.toBe(k.serverPublicKey)
    expect(deriveCurveKeys('').serverPublicKey).toHaveLength(40)
  })

  it('encode Z85 as RFC 32 does', () => {
    expect(z85Encode(Buffer.from([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]))).toBe('HelloWorld')
  })
})
