import * as crypto from 'node:crypto'

type OneShot = (algorithm: string, data: string, encoding: 'buffer') => Buffer

/** crypto.hash (Node >= 20.12): one call, no Hash object; about half the cost of createHash for short inputs. */
const oneShot = (crypto as unknown as { hash?: OneShot }).hash

/** The digest of a short string (keys, versions): hot in ring lookups and anti-entropy walks. */
export function digestOf (algorithm: 'md5' | 'sha1', data: string): Buffer {
  return oneShot !== undefined ? oneShot(algorithm, data, 'buffer') : crypto.createHash(algorithm).update(data).digest()
}
