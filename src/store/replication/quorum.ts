import { PmzError } from '../../common/errors.js'

/** The outcome of waiting for a quorum: the values so far, and the errors when it cannot be reached; `stoppedBy` the value that ended the wait early. */
export type QuorumOutcome<T> = { ok: true, values: T[] } | { ok: false, values: T[], errors: unknown[], stoppedBy?: T }

/**
 * Resolves once `w` of `ops` succeeded (with `all`, once every op has
 * settled and at least `w` succeeded), or as soon as so many failed that `w`
 * can no longer be reached, or at once when a value satisfies `stopOn` (it
 * does not count towards `w`). Operations still running keep running; their
 * late failures are swallowed here (the caller may still await them).
 */
export async function waitQuorum<T> (ops: Array<Promise<T>>, w: number, stopOn?: (value: T) => boolean, all = false): Promise<QuorumOutcome<T>> {
  const values: T[] = []
  const errors: unknown[] = []
  if (w <= 0 && !all) return { ok: true, values }
  return await new Promise(resolve => {
    let done = false
    const settledAll = (): void => {
      if (done || values.length + errors.length < ops.length) return
      done = true
      resolve(values.length >= w ? { ok: true, values } : { ok: false, values, errors })
    }
    for (const op of ops) {
      op.then(value => {
        if (done) return
        if (stopOn?.(value) === true) {
          done = true
          resolve({ ok: false, values, errors, stoppedBy: value })
          return
        }
        values.push(value)
        if (all) settledAll()
        else if (values.length >= w) {
          done = true
          resolve({ ok: true, values })
        }
      }, err => {
        if (done) return
        errors.push(err)
        if (ops.length - errors.length < w) {
          done = true
          resolve({ ok: false, values, errors })
        } else if (all) settledAll()
      })
    }
    if (ops.length < w) {
      done = true
      resolve({ ok: false, values, errors })
    } else if (all) settledAll()
  })
}

/** The one 503 of a quorum that cannot be met: `acks` of the `need` replicas that had to have `what` (the error codes of those that failed). */
export function quorumNotMet (acks: number, need: number, what: 'alive' | 'promised' | 'accepted', errors: unknown[] = []): PmzError {
  const codes = errors.map(e => (e as { code?: string }).code ?? 'ERR_INTERNAL')
  return new PmzError('ERR_QUORUM_NOT_MET', `${acks} of ${need} required replicas ${what}`, { details: { acks, quorum: need, errors: codes } })
}
