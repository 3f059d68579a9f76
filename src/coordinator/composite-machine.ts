import { pack, unpack } from 'msgpackr'
import { PmzError } from '../common/errors.js'
import type { StateMachine } from './types.js'

interface Image { composite: 1, parts: Record<string, Uint8Array> }

/**
 * Several state machines on one replicated log: `route` names the part that
 * applies a command, a snapshot holds every part's. A snapshot that is not a
 * composite one (taken before the log carried more than `legacy`) restores
 * into `legacy`, and the other parts start empty.
 */
export class CompositeMachine<C, R> implements StateMachine<C, R> {
  private readonly empty: Record<string, Uint8Array> = {}

  constructor (
    private readonly parts: Record<string, StateMachine<any, any>>,
    private readonly route: (command: C) => string,
    private readonly legacy: string
  ) {
    for (const [name, part] of Object.entries(parts)) this.empty[name] = part.snapshot()
  }

  apply (command: C, index: number): R {
    const name = this.route(command)
    const part = this.parts[name]
    if (part === undefined) throw new PmzError('ERR_BAD_REQUEST', 'no state machine takes this command', { details: { part: name } })
    return part.apply(command, index) as R
  }

  snapshot (): Uint8Array {
    const parts: Record<string, Uint8Array> = {}
    for (const name of Object.keys(this.parts).sort()) parts[name] = this.parts[name].snapshot()
    return pack({ composite: 1, parts } satisfies Image)
  }

  restore (snapshot: Uint8Array): void {
    const image = unpack(snapshot) as Partial<Image> | undefined
    const composite = image !== null && typeof image === 'object' && image.composite === 1 && typeof image.parts === 'object'
    for (const [name, part] of Object.entries(this.parts)) {
      if (composite) part.restore(image.parts?.[name] ?? this.empty[name])
      else part.restore(name === this.legacy ? snapshot : this.empty[name])
    }
  }
}
