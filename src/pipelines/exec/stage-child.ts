// The child process of a module stage with `isolation: 'process'` (forked by
// process-endpoint.ts): the stage runtime over the IPC channel
// (`serialization: 'advanced'`). It never outlives the parent (IPC
// disconnect) and dies on SIGTERM after aborting ctx.signal.
import type { ChildMessage } from './stage-messages.js'
import { abortStage, runStage } from './stage-runtime.js'

runStage({
  isOpen: () => process.connected,
  post: (msg: ChildMessage) => { process.send?.(msg) },
  exit (code, last) {
    if (last === undefined || !process.connected) process.exit(code)
    try {
      // A bare process.exit could cut the message short: exit once it was written.
      process.send?.(last, () => process.exit(code))
    } catch {
      process.exit(code)
    }
  },
  onMessage: fn => { process.on('message', fn) }
})
process.on('SIGTERM', () => {
  abortStage('the stage instance was killed')
  setImmediate(() => process.exit(143))
})
process.on('disconnect', () => process.exit(0))
