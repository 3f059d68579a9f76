import * as crypto from 'node:crypto'

type OneShot = {
  (algorithm: string, data: string | Uint8Array, encoding: 'buffer'): Buffer
  (algorithm: string, data: string | Uint8Array, encoding: 'hex'): string
}

/** crypto.hash (Node >= 20.12): one call, no Hash object; about half the cost of createHash for short inputs. */
const oneShot = (crypto as unknown as { hash?: OneShot }).hash

/** The digest of a short input (keys, versions): hot in ring lookups and anti-entropy walks. */
export function digestOf (algorithm: 'md5' | 'sha1', data: string): Buffer {
  return oneShot !== undefined ? oneShot(algorithm, data, 'buffer') : crypto.createHash(algorithm).update(data).digest()
}

/** Hex sha256 of a whole value held in memory: what every small value is checked against when read. */
export function sha256Hex (data: Uint8Array): string {
  return oneShot !== undefined ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex')
}
