import { pack, unpack } from 'msgpackr'
import { PmzError } from '../common/errors.js'
import type { StateMachine } from './types.js'

/** Commands of the cluster-wide settings map and its counters. */
export type ClusterConfigCommand =
  | { op: 'set', key: string, value: unknown }
  | { op: 'delete', key: string }
  /** Adds `by` (default 1) to a counter that starts at 0. */
  | { op: 'incr', key: string, by?: number }

/** `set`: true; `delete`: whether the key existed; `incr`: the counter's new value. */
export type ClusterConfigResult = boolean | number

interface Image { v: 1, values: Array<[string, unknown]>, counters: Array<[string, number]> }

/**
 * A replicated key/value map of cluster settings plus named counters: the
 * first state machine on the coordinator log (the job and schedule tables
 * come next). Reads are local; use Coordinator.read() first for a
 * linearizable one.
 */
export class ClusterConfigMachine implements StateMachine<ClusterConfigCommand, ClusterConfigResult> {
  private values = new Map<string, unknown>()
  private counters = new Map<string, number>()

  get (key: string): unknown { return this.values.get(key) }
  has (key: string): boolean { return this.values.has(key) }
  counter (key: string): number { return this.counters.get(key) ?? 0 }
  entries (): Array<[string, unknown]> { return [...this.values].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0) }

  apply (command: ClusterConfigCommand): ClusterConfigResult {
    // Deterministic refusals: every replica throws the same error for the same command.
    if (command === null || typeof command !== 'object' || typeof command.key !== 'string') throw new PmzError('ERR_BAD_REQUEST', 'config command needs a key')
    switch (command.op) {
      case 'set':
        this.values.set(command.key, command.value)
        return true
      case 'delete':
        return this.values.delete(command.key)
      case 'incr': {
        const by = command.by ?? 1
        if (!Number.isSafeInteger(by)) throw new PmzError('ERR_BAD_REQUEST', 'incr needs an integer', { details: { key: command.key } })
        const next = this.counter(command.key) + by
        this.counters.set(command.key, next)
        return next
      }
      default:
        throw new PmzError('ERR_BAD_REQUEST', 'unknown config command', { details: { op: (command as { op?: unknown }).op } })
    }
  }

  snapshot (): Uint8Array {
    const sorted = <T>(m: Map<string, T>): Array<[string, T]> => [...m].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    return pack({ v: 1, values: sorted(this.values), counters: sorted(this.counters) } satisfies Image)
  }

  restore (snapshot: Uint8Array): void {
    const image = unpack(snapshot) as Image
    if (image?.v !== 1) throw new PmzError('ERR_CORRUPT', 'unknown cluster config snapshot')
    this.values = new Map(image.values)
    this.counters = new Map(image.counters)
  }
}
