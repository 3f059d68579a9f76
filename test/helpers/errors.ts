import { isPmzError } from '../../src/common/errors.js'

/** The error code a promise rejects with (its message when it is no PmzError), or undefined when it resolves. */
export async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
    return undefined
  } catch (err) {
    return isPmzError(err) ? err.code : String(err)
  }
}
