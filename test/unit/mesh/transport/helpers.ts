import { createHash } from 'node:crypto'
import { createServer } from 'node:net'
import { isPmzError } from '../../../../src/common/errors.js'

/** The code of the error `p` rejects with (undefined when it resolves). */
export async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return isPmzError(err) ? err.code : String(err)
  }
}

export const elapsed = (t0: number): number => performance.now() - t0

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** Reads a whole body. */
export async function collect (body: AsyncIterable<Uint8Array> | undefined): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of body ?? []) parts.push(Buffer.from(c))
  return Buffer.concat(parts)
}

/** Yields `data` in pieces whose sizes cycle through `sizes`. */
export async function * pieces (data: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0
  for (let offset = 0; offset < data.length; i++) {
    const n = sizes[i % sizes.length]
    yield data.subarray(offset, offset + n)
    offset += n
  }
}

/** A TCP port nobody listens on (just released by the OS). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}
