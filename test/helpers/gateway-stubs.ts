// Components a gateway under test needs but the test does not exercise.
import type { Extensions } from '../../src/extensions/index.js'
import type { CoordinatorView } from '../../src/http/index.js'

/** No extension is installed. */
export const noExtensions = { names: () => [], call: async () => null, start: async () => {}, stop: async () => {} } as unknown as Extensions

/** A coordinator view with no leader, no settings and no counters; `local` says whether it is this peer's own. */
export function stubCoordinator (local = false): CoordinatorView {
  return {
    local,
    leaderHttp: () => undefined,
    status: () => ({}),
    settings: async () => ({}),
    setSetting: async () => {},
    deleteSetting: async () => false,
    counter: async () => 0,
    increment: async () => 0
  }
}
