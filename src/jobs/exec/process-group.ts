import type { ChildProcess } from 'node:child_process'
import type { Clock } from '../../common/clock.js'

/**
 * Signals a child's whole process group (children are spawned detached, so
 * each leads one): a shell script's `sleep` dies with it, and bash, which
 * defers SIGTERM while it waits for a foreground child, cannot hold the
 * cancel up.
 */
export function killGroup (child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return
  try {
    process.kill(-child.pid, signal)
  } catch {
    try { child.kill(signal) } catch { /* already gone */ }
  }
}

/**
 * On `signal`: SIGTERM to the child's group, then SIGKILL after `graceMs`
 * unless it exited. Returns a function that undoes the arming.
 */
export function killOnAbort (child: ChildProcess, signal: AbortSignal, clock: Clock, graceMs: number): () => void {
  let grace: { cancel(): void } | undefined
  const onAbort = (): void => {
    killGroup(child, 'SIGTERM')
    grace = clock.setTimeout(() => killGroup(child, 'SIGKILL'), graceMs)
  }
  if (signal.aborted) onAbort()
  else signal.addEventListener('abort', onAbort, { once: true })
  return () => {
    signal.removeEventListener('abort', onAbort)
    grace?.cancel()
  }
}
