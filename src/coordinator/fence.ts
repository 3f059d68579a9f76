import { PmzError } from '../common/errors.js'

/**
 * Term fencing for peers that take orders from the coordinator: remember the
 * highest term seen and refuse anything older, so a deposed coordinator that
 * still believes it leads cannot act after its successor has.
 */
export class Fence {
  private highest: number

  constructor (initialTerm = 0) { this.highest = initialTerm }

  /** The highest term seen so far. */
  get term (): number { return this.highest }

  /** Accepts `term` (raising the highest seen) or throws ERR_STALE_TERM when it is older. */
  checkTerm (term: number): void {
    if (term < this.highest) {
      throw new PmzError('ERR_STALE_TERM', `term ${term} is older than ${this.highest}`, { details: { term, current: this.highest } })
    }
    this.highest = term
  }

  /** Raises the highest term seen without checking (e.g. on leader:change). */
  observe (term: number): void { this.highest = Math.max(this.highest, term) }
}
