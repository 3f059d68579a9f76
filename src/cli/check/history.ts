/**
 * The model a consistency check holds per key (pure; see workload.ts for
 * the driver). In the style of Jepsen's register checkers, with what pmz
 * promises: an `add_key` answered 201 is the key's value until a delete; of
 * concurrent `add_key`s of one absent key exactly one gets 201; a refused
 * write (503 and other 4xx/5xx but 504) changes nothing; a 504 or a broken
 * connection may or may not have taken effect.
 *
 * Each key goes through rounds: concurrent creates, reads, maybe a delete,
 * reads, maybe another round. The model is the set of values the key may
 * hold (`possible`, a sha256 or ABSENT); every answer must fit it.
 */

export const ABSENT = '(absent)'

/** How an operation ended, from the client's side. */
export type Result = 'ok' | 'exists' | 'absent' | 'refused' | 'unknown'

/** The class of an HTTP answer to add_key or delete_key (undefined status: the connection broke). */
export function resultOf (status: number | undefined): Result {
  if (status === undefined || status === 504) return 'unknown'
  if (status === 200 || status === 201) return 'ok'
  if (status === 409) return 'exists'
  if (status === 404) return 'absent'
  return 'refused'
}

export interface Violation { key: string, what: string }

export class KeyModel {
  private possible = new Set<string>([ABSENT])
  readonly violations: string[] = []

  constructor (readonly key: string) {}

  /** What the key may hold now. */
  values (): string[] {
    return [...this.possible]
  }

  /** A round of concurrent creates (every one had returned): `values[i]` was sent, `results[i]` came back. */
  creates (values: string[], results: Result[], statuses: Array<number | undefined> = []): void {
    const seen = statuses.length > 0 ? ` (answers ${statuses.map(x => x ?? 'broken').join(',')})` : ''
    const won = values.filter((_, i) => results[i] === 'ok')
    const unknown = values.filter((_, i) => results[i] === 'unknown')
    if (won.length > 1) this.violations.push(`${won.length} creates answered 201 in one round${seen}`)
    if (won.length > 0 && !this.possible.has(ABSENT)) this.violations.push(`a create answered 201 while the key held a value${seen}`)
    const existed = results.some(r => r === 'exists')
    const couldExist = [...this.possible].some(v => v !== ABSENT) || unknown.length > 0 || won.length > 0
    if (existed && !couldExist) this.violations.push(`a create answered 409 though no value could exist (a refused write left one?)${seen}`)
    if (won.length === 1) {
      this.possible = new Set([won[0]])
      return
    }
    if (this.possible.has(ABSENT)) for (const v of unknown) this.possible.add(v)
  }

  /** A read that answered (ABSENT for 404). */
  read (value: string, via: string): void {
    if (!this.possible.has(value)) {
      this.violations.push(`read through ${via} gave ${short(value)}, expected ${[...this.possible].map(short).join(' or ')}`)
    }
  }

  /** A delete that returned. */
  delete (result: Result): void {
    const held = [...this.possible].some(v => v !== ABSENT)
    if (result === 'ok') {
      if (!held) this.violations.push('a delete answered 200 though no value could exist')
      this.possible = new Set([ABSENT])
    } else if (result === 'absent') {
      if (!this.possible.has(ABSENT)) this.violations.push(`a delete answered 404 though the key held ${[...this.possible].map(short).join(' or ')}`)
      this.possible = new Set([ABSENT])
    } else if (result === 'unknown') {
      this.possible.add(ABSENT)
    }
  }
}

function short (v: string): string {
  return v === ABSENT ? '404' : v.slice(0, 12)
}
