/** The outcome of waiting for a quorum: the values so far, and the errors when it cannot be reached. */
export type QuorumOutcome<T> = { ok: true, values: T[] } | { ok: false, values: T[], errors: unknown[] }

/**
 * Resolves once `w` of `ops` succeeded, or as soon as so many failed that `w`
 * can no longer be reached. Operations still running keep running; their
 * late failures are swallowed here (the caller may still await them).
 */
export async function waitQuorum<T> (ops: Array<Promise<T>>, w: number): Promise<QuorumOutcome<T>> {
  const values: T[] = []
  const errors: unknown[] = []
  if (w <= 0) return { ok: true, values }
  return await new Promise(resolve => {
    let done = false
    for (const op of ops) {
      op.then(value => {
        if (done) return
        values.push(value)
        if (values.length >= w) {
          done = true
          resolve({ ok: true, values })
        }
      }, err => {
        if (done) return
        errors.push(err)
        if (ops.length - errors.length < w) {
          done = true
          resolve({ ok: false, values, errors })
        }
      })
    }
    if (ops.length < w) {
      done = true
      resolve({ ok: false, values, errors })
    }
  })
}
