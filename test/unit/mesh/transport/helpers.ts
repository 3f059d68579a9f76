import { createHash } from 'node:crypto'
import { createServer } from 'node:net'

export { codeOf } from '../../../helpers/errors.js'

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
