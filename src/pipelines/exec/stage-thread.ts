// The worker thread of a module stage with `isolation: 'thread'` (the
// default; started by thread-endpoint.ts): the stage runtime over the
// worker's port. `process.exit` in the stage's code ends this thread, not
// the peer; the parent terminates the thread to kill it.
import { parentPort } from 'node:worker_threads'
import { packBatchBytes } from './batch-bytes.js'
import { columnBuffers } from './call-columns.js'
import type { ChildMessage, ParentMessage } from './stage-messages.js'
import { runStage } from './stage-runtime.js'

const port = parentPort
if (port === null) throw new Error('stage-thread.js runs only as a worker thread')
let open = true
port.on('close', () => { open = false })

runStage({
  isOpen: () => open,
  post: (msg: ChildMessage) => {
    const msgs = msg.type === 'batch' ? msg.msgs : [msg]
    const bytes = packBatchBytes(msgs)
    const transfer = columnBuffers(msgs)
    if (bytes !== undefined) transfer.push(bytes)
    port.postMessage(msg.type === 'batch' ? msg : msgs[0], transfer)
  },
  exit (code, last) {
    // A message posted before process.exit still reaches the parent.
    if (last !== undefined && open) {
      try { port.postMessage(last) } catch { /* the exit says enough */ }
    }
    process.exit(code)
  },
  onMessage: fn => { port.on('message', (msg: ParentMessage) => fn(msg)) }
})
