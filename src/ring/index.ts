import { KetamaRing } from './ketama-ring.js'
import type { Ring, RingInit } from './types.js'

export type { KeyMove, Ring, RingInit, RingPeer } from './types.js'
export { diffRings } from './diff-rings.js'
export { keyHash, partitionOf } from './key-hash.js'
export * from './constants.js'

/**
 * A consistent-hash ring with virtual nodes over the given volume peers
 * (package `hashring`). Immutable: `ring.withPeers(list)` makes the next one.
 */
export function createRing (init: RingInit = {}): Ring {
  return new KetamaRing(init)
}
