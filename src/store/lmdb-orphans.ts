const LMDB_SOURCE = /[\\/]node_modules[\\/]lmdb[\\/]/

/**
 * Whether an unhandled rejection is one lmdb-js made for itself when a
 * commit failed (a full disk): with its default event-turn batching it starts
 * each batch with a write whose promise it keeps, and it rejects the cause of
 * every failed commit on a second promise (`commitError`) nobody else holds.
 * The callers' own writes fail properly; these two only say the same again.
 * The store's environment avoids both (see Commits); this is for the other
 * LMDB environments of a peer (hints), so that a full disk never exits it.
 */
export function isLmdbOrphanRejection (reason: unknown): boolean {
  if (!(reason instanceof Error)) return false
  return reason.message === 'Commit failed (see commitError for details)' || LMDB_SOURCE.test(reason.stack ?? '')
}
