import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { PmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { RequestBody } from '../../../src/http/request-body.js'
import { UploadGuard } from '../../../src/http/upload-guard.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { codeOf } from '../../helpers/errors.js'

const IDLE_MS = 1000

/** A request body as node hands it over: a stream, `complete` once the parser saw its end. */
function fakeRequest (headers: Record<string, string> = {}, remoteAddress = '10.0.0.1'): PassThrough & { complete: boolean, headers: Record<string, string>, socket: EventEmitter } {
  return Object.assign(new PassThrough(), { complete: false, headers, socket: Object.assign(new EventEmitter(), { remoteAddress }) })
}

describe('RequestBody', () => {
  it('cuts a body that sends nothing for the idle timeout, and only then', async () => {
    const clock = new ManualClock()
    const raw = fakeRequest()
    const body = new RequestBody(raw as unknown as IncomingMessage, clock, IDLE_MS)
    raw.write('abc')
    expect((await body.next()).value.toString()).toBe('abc')
    const waiting = body.next()
    clock.advance(IDLE_MS - 1)
    raw.write('d')
    expect((await waiting).value.toString()).toBe('d')
    const stalled = codeOf(body.next())
    clock.advance(IDLE_MS)
    expect(await stalled).toBe('ERR_REQUEST_TIMEOUT')
    expect(body.idleCut).toBe(true)
    expect(body.bytesRead).toBe(4)
  })

  it('runs no deadline once the whole body has arrived', async () => {
    const clock = new ManualClock()
    const raw = fakeRequest()
    raw.complete = true
    raw.end('xyz')
    const body = new RequestBody(raw as unknown as IncomingMessage, clock, IDLE_MS)
    expect((await body.readAll(10, () => new Error('too large'))).toString()).toBe('xyz')
    expect(body.idleCut).toBe(false)
  })

  it('turns a client that goes away into ERR_ABORTED', async () => {
    const raw = fakeRequest()
    const body = new RequestBody(raw as unknown as IncomingMessage, new ManualClock(), IDLE_MS)
    const reading = codeOf(body.readAll(100, () => new Error('too large')))
    raw.write('partial')
    raw.destroy(new Error('aborted'))
    expect(await reading).toBe('ERR_ABORTED')
    expect(await codeOf(body.next())).toBe('ERR_ABORTED')
  })

  it('stops at maxBytes without destroying the request (the rest is drained or closed later)', async () => {
    const raw = fakeRequest()
    raw.end(Buffer.alloc(20))
    const body = new RequestBody(raw as unknown as IncomingMessage, new ManualClock(), IDLE_MS)
    expect(await codeOf(body.readAll(10, () => new PmzError('ERR_TOO_LARGE', 'x')))).toBe('ERR_TOO_LARGE')
    expect(raw.destroyed).toBe(false)
  })

  it('sends 100 Continue when the body is first wanted, once', async () => {
    const raw = fakeRequest()
    let continues = 0
    const res = { writeContinue: () => { continues++ } } as unknown as ServerResponse
    const body = new RequestBody(raw as unknown as IncomingMessage, new ManualClock(), IDLE_MS)
    body.expectContinue(res)
    expect(body.continueWithheld).toBe(true)
    raw.end('v')
    await body.readAll(10, () => new Error('too large'))
    expect(continues).toBe(1)
    expect(body.continueWithheld).toBe(false)
  })
})

describe('UploadGuard', () => {
  const guard = (max: number): UploadGuard =>
    new UploadGuard(new ManualClock(), createLogger({ level: 'silent' }), { idleTimeoutMs: IDLE_MS, maxPerClient: max, drainMaxBytes: 100 })

  it('refuses uploads past the cap per client address until one ends', () => {
    const g = guard(2)
    const res = (): ServerResponse => new EventEmitter() as unknown as ServerResponse
    const upload = (addr = '10.0.0.1'): ReturnType<typeof fakeRequest> => fakeRequest({ 'content-length': '10' }, addr)
    const [a, b, c] = [upload(), upload(), upload()]
    expect(g.admit(a as unknown as IncomingMessage, res())).toBeUndefined()
    expect(g.admit(b as unknown as IncomingMessage, res())).toBeUndefined()
    const refused = g.admit(c as unknown as IncomingMessage, res())
    expect(refused?.code).toBe('ERR_TOO_MANY_REQUESTS')
    expect(refused?.status).toBe(429)
    expect(g.closesAfterError(c as unknown as IncomingMessage)).toBe(true)
    // Another address has its own count; a request without a body is never counted.
    expect(g.admit(upload('10.0.0.2') as unknown as IncomingMessage, res())).toBeUndefined()
    expect(g.admit(fakeRequest() as unknown as IncomingMessage, res())).toBeUndefined()
    a.emit('close')
    const d = upload()
    expect(g.admit(d as unknown as IncomingMessage, res())).toBeUndefined()
    expect(g.admit(upload() as unknown as IncomingMessage, res())?.code).toBe('ERR_TOO_MANY_REQUESTS')
    // An answer that closes the connection detaches the request: its socket's close frees the slot.
    b.socket.emit('close')
    expect(g.admit(upload() as unknown as IncomingMessage, res())).toBeUndefined()
    expect(b.socket.listenerCount('close')).toBe(0)
    d.emit('end')
    expect(d.socket.listenerCount('close')).toBe(0)
  })

  it('keeps a connection whose unread rest is small enough to drain, closes one with more', () => {
    const g = guard(10)
    const small = fakeRequest({ 'content-length': '100' })
    const large = fakeRequest({ 'content-length': '101' })
    g.admit(small as unknown as IncomingMessage, new EventEmitter() as unknown as ServerResponse)
    g.admit(large as unknown as IncomingMessage, new EventEmitter() as unknown as ServerResponse)
    expect(g.closesAfterError(small as unknown as IncomingMessage)).toBe(false)
    expect(g.closesAfterError(large as unknown as IncomingMessage)).toBe(true)
  })
})
