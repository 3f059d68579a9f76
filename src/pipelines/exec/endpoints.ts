// What carries a module stage's messages (stage-messages.ts): a worker
// thread of the peer (`isolation: 'thread'`, the default: a message is a
// structured clone between threads, no pipe, no second event loop) or a
// child process (`isolation: 'process'`: its own heap and process group,
// for native addons that are not thread-safe or code that must not share
// the peer's process). Each ends in one reason, once its output was read.
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { dirname } from 'node:path'
import { Worker } from 'node:worker_threads'
import { STDERR_TAIL_BYTES } from '../../jobs/exec/constants.js'
import { LineSplitter, TailBuffer } from '../../jobs/exec/log-buffer.js'
import { killGroup, reapWithThisProcess } from '../../jobs/exec/process-group.js'
import { packBatchBytes } from './batch-bytes.js'
import { columnBuffers } from './call-columns.js'
import type { InstanceOptions } from './instance-options.js'
import type { ChildMessage, ParentMessage } from './stage-messages.js'

export interface StageEndpoint {
  /** Sends one message; throws (synchronously) when structured clone refuses it or the instance is gone. */
  post(msg: ParentMessage): void
  /** Ends it at once: SIGKILL to the process group, or the thread terminated (even in an endless loop). */
  kill(): void
  /** Settles once it ended and its stdout and stderr were read, with why it ended. */
  readonly closed: Promise<string>
}

const outOfMemory = (o: InstanceOptions): string => `out of memory: the stage went past the ${o.memoryMb} MB heap limit`

/** stdout and stderr as log lines; the stderr tail for the reason. */
function capture (o: InstanceOptions, stdout: NodeJS.ReadableStream | null, stderr: NodeJS.ReadableStream | null): { tail: TailBuffer, ended: Promise<void> } {
  const tail = new TailBuffer(STDERR_TAIL_BYTES)
  const out = new LineSplitter(line => o.onLog(line, 'stdout'))
  const err = new LineSplitter(line => o.onLog(line, 'stderr'))
  stdout?.on('data', (chunk: Buffer) => out.write(chunk))
  stderr?.on('data', (chunk: Buffer) => { err.write(chunk); tail.write(chunk) })
  const end = async (s: NodeJS.ReadableStream | null): Promise<void> => { if (s !== null) await once(s, 'end').catch(() => {}) }
  const ended = Promise.all([end(stdout), end(stderr)]).then(() => { out.end(); err.end() })
  return { tail, ended }
}

const withTail = (how: string, tail: string): string => tail === '' ? how : `${how}\n${tail}`

export function processEndpoint (o: InstanceOptions, onMessage: (msg: ChildMessage) => void): StageEndpoint {
  const proc = fork(o.childScript, [], {
    execArgv: [`--max-old-space-size=${o.memoryMb}`],
    serialization: 'advanced',
    silent: true,
    detached: true,
    cwd: dirname(o.seed.path),
    env: { ...o.env, PMZ_STAGE: o.seed.name, PMZ_PEER_ID: o.peerId }
  })
  reapWithThisProcess(proc)
  const { tail } = capture(o, proc.stdout, proc.stderr)
  let exit: { code: number | null, signal: string | null } = { code: null, signal: null }
  proc.on('message', onMessage)
  proc.on('error', e => o.log.debug({ stage: o.seed.name, err: e.message }, 'stage child error'))
  proc.on('exit', (code, signal) => {
    exit = { code, signal }
    // Whatever the stage left running in its group goes with it (and lets the pipes close).
    killGroup(proc, 'SIGKILL')
  })
  const closed = new Promise<string>(resolve => proc.once('close', () => {
    const text = tail.text()
    if (/heap out of memory|Allocation failed/i.test(text)) resolve(outOfMemory(o))
    else resolve(withTail(exit.signal !== null ? `the stage's process was killed by ${exit.signal}` : `the stage's process exited with code ${exit.code ?? 'unknown'}`, text))
  }))
  return {
    post: msg => { proc.send(msg) },
    kill: () => killGroup(proc, 'SIGKILL'),
    closed
  }
}

export function threadEndpoint (o: InstanceOptions, onMessage: (msg: ChildMessage) => void): StageEndpoint {
  const worker = new Worker(o.threadScript, {
    env: { ...o.env, PMZ_STAGE: o.seed.name, PMZ_PEER_ID: o.peerId },
    stdout: true,
    stderr: true,
    resourceLimits: { maxOldGenerationSizeMb: o.memoryMb }
  })
  const { tail, ended } = capture(o, worker.stdout, worker.stderr)
  let error: Error | undefined
  let killed = false
  worker.on('message', onMessage)
  // An uncaught throw (a timer's callback, say) ends the thread, not the peer.
  worker.on('error', e => { error = e })
  // Not events.once: it rejects on the 'error' that comes before the exit.
  const closed = new Promise<number>(resolve => worker.once('exit', resolve)).then(async code => {
    await ended
    const text = tail.text()
    if ((error as { code?: string } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return outOfMemory(o)
    if (killed) return withTail('the stage\'s thread was terminated', text)
    if (error !== undefined) return withTail(`the stage's thread threw: ${(error.message ?? String(error)).split('\n')[0]}`, text)
    return withTail(`the stage's thread exited with code ${String(code)}`, text)
  })
  return {
    post: msg => {
      const msgs = msg.type === 'batch' ? msg.msgs : [msg]
      const bytes = packBatchBytes(msgs)
      const transfer = columnBuffers(msgs)
      if (bytes !== undefined) transfer.push(bytes)
      worker.postMessage(msg.type === 'batch' ? msg : msgs[0], transfer)
    },
    kill: () => {
      killed = true
      void worker.terminate().catch(() => {})
    },
    closed
  }
}
