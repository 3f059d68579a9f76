import { digestOf } from '../common/digest.js'
import { PARTITION_BITS } from './constants.js'

/**
 * The key's position on the ring: the first four bytes of its md5, read
 * little-endian, as hashring (libketama) computes it. An unsigned 32-bit
 * integer, stable across peers and versions, so keys can be bucketed by ring
 * position (range digests for anti-entropy) in the same order the ring walks.
 */
export function keyHash (key: string): number {
  return digestOf('md5', key).readUInt32LE(0)
}

/** The ring partition of a key (0 .. PARTITIONS - 1): the top PARTITION_BITS of its position. */
export function partitionOf (key: string): number {
  return keyHash(key) >>> (32 - PARTITION_BITS)
}
