import type { KeyMove, Ring } from './types.js'

/**
 * The keys whose preference list of `n` peers differs between two rings,
 * lazily, in the order of `keys` (so a rebalancer can walk LMDB without
 * holding every key). Keys whose list is unchanged are skipped.
 */
export function * diffRings (before: Ring, after: Ring, keys: Iterable<string>, n: number): Generator<KeyMove> {
  for (const key of keys) {
    const was = before.preferenceList(key, n)
    const now = after.preferenceList(key, n)
    if (was.length === now.length && was.every((p, i) => p === now[i])) continue
    yield {
      key,
      before: was,
      after: now,
      added: now.filter(p => !was.includes(p)),
      removed: was.filter(p => !now.includes(p)),
      ownerChanged: was[0] !== now[0]
    }
  }
}
