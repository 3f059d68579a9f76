import { ProcessInstanceHost } from './process-host.js'
import type { InstanceHostComponents, InstanceHostInit, StageProcessHost } from './types.js'

export type { StageSeed } from './instance-options.js'
export type { InstanceHostComponents, InstanceHostInit, StageProcessHost } from './types.js'
export { BYTES_MARKER } from './payloads.js'

/**
 * Stage instances (issue 17): a module stage is a long-lived worker thread
 * (or, with `isolation: 'process'`, a child process) that ran its `setup`
 * and runs packets one at a time; an executable stage runs one process per
 * packet.
 */
export function createInstanceHost (components: InstanceHostComponents, init: InstanceHostInit): StageProcessHost {
  return new ProcessInstanceHost(components, init)
}
