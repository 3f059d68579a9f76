import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyRequest } from 'fastify'
import type { Clock, Timer } from '../common/clock.js'
import { PmzError } from '../common/errors.js'

/** Where a route gets the body of its request from (the gateway's UploadGuard). */
export interface BodySource {
  body(req: FastifyRequest): RequestBody
}

/**
 * One request's body as the routes read it. Chunks are pulled from the
 * request with an idle deadline: a client that sends nothing for `idleMs`
 * while a chunk is awaited gets ERR_REQUEST_TIMEOUT (the deadline only runs
 * while pmz waits for the client, never while the consumer is busy). A
 * client asking `Expect: 100-continue` is told to go on only when the body
 * is first wanted, so a refusal before that costs it no upload. A client
 * that goes away is ERR_ABORTED, never an internal error. Stopping early
 * leaves the rest unread, for the gateway to drain or close after the
 * answer: the request stream is never destroyed here (that would take the
 * answer down with the socket).
 */
export class RequestBody implements AsyncIterable<Uint8Array>, AsyncIterator<Uint8Array> {
  /** Bytes handed to the reader so far. */
  bytesRead = 0
  /** Set when the idle deadline cut the body. */
  idleCut = false
  /** Set when the upload was refused before its body was wanted (per-address cap). */
  refused = false
  /** Set when its answer closes the connection (then its rest is not drained). */
  closes = false
  private continueTo: ServerResponse | undefined

  constructor (private readonly raw: IncomingMessage, private readonly clock: Clock, private readonly idleMs: number) {}

  /** The client sent `Expect: 100-continue`: `100 Continue` goes out when the body is first wanted. */
  expectContinue (res: ServerResponse): void { this.continueTo = res }

  /** Whether the client waits for a `100 Continue` that was never sent (it then sends no body). */
  get continueWithheld (): boolean { return this.continueTo !== undefined }

  [Symbol.asyncIterator] (): AsyncIterator<Uint8Array> { return this }

  async next (): Promise<IteratorResult<Uint8Array>> {
    if (this.continueTo !== undefined) {
      this.continueTo.writeContinue()
      this.continueTo = undefined
    }
    for (;;) {
      // A request destroyed before its end: the client went away, what is buffered is no use.
      if (this.raw.destroyed && !this.raw.readableEnded) throw aborted()
      const chunk = this.raw.read() as Buffer | null
      if (chunk !== null) {
        this.bytesRead += chunk.length
        return { done: false, value: chunk }
      }
      if (this.raw.readableEnded) return { done: true, value: undefined }
      await this.wait()
    }
  }

  /** A reader that stops early leaves the rest unread (see the class comment). */
  async return (): Promise<IteratorResult<Uint8Array>> {
    return { done: true, value: undefined }
  }

  /** The whole body in one Buffer; the error of `tooLarge` past `maxBytes`. */
  async readAll (maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
    const parts: Buffer[] = []
    let size = 0
    for (let r = await this.next(); r.done !== true; r = await this.next()) {
      size += r.value.length
      if (size > maxBytes) throw tooLarge()
      parts.push(r.value as Buffer)
    }
    return parts.length === 1 ? parts[0] : Buffer.concat(parts, size)
  }

  /** Waits for data, the end, or the client's departure; the idle deadline runs only while bytes are still due. */
  private async wait (): Promise<void> {
    const raw = this.raw
    await new Promise<void>((resolve, reject) => {
      let timer: Timer | undefined
      const settle = (err?: Error): void => {
        raw.off('readable', onReady).off('end', onReady).off('error', onError).off('close', onClose)
        timer?.cancel()
        if (err === undefined) resolve()
        else reject(err)
      }
      const onReady = (): void => { settle() }
      const onError = (err: Error): void => { settle(aborted(err)) }
      const onClose = (): void => { settle(raw.readableEnded ? undefined : aborted()) }
      raw.on('readable', onReady).on('end', onReady).on('error', onError).on('close', onClose)
      if (!raw.complete) {
        timer = this.clock.setTimeout(() => {
          this.idleCut = true
          settle(new PmzError('ERR_REQUEST_TIMEOUT', `the request body sent nothing for ${this.idleMs / 1000} s`))
        }, this.idleMs)
      }
    })
  }
}

// The client went away (node reports ECONNRESET "aborted", then close): not a server fault.
const aborted = (cause?: Error): PmzError => new PmzError('ERR_ABORTED', 'request closed before its body ended', { cause })
