import type { ExtensionHandler } from './types.js'

/** A built-in extension: its handler, and a life cycle when it keeps state (an index, a worker pool). */
export interface Builtin {
  readonly name: string
  readonly handle: ExtensionHandler
  start?(): Promise<void>
  stop?(): Promise<void>
}
