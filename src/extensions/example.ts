import type { Builtin } from './builtin.js'
import type { ExtensionParams } from './types.js'

/** The answer of `example` (pulzar-api.md §5): the call echoed back. */
export interface ExampleResult { my_arg: string[], my_params: ExtensionParams }

/**
 * Pulzar's built-in `example`: `GET /extension/example/arg1/arg2?p=1` answers
 * `{"my_arg": ["arg1", "arg2"], "my_params": {"p": ["1"]}}`, the call Pulzar's
 * README shows to check that extensions work.
 */
export function createExample (): Builtin {
  return {
    name: 'example',
    handle: (args: string[], params: ExtensionParams): ExampleResult => ({ my_arg: args, my_params: params })
  }
}
