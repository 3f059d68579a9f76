import { spawn, type ChildProcess } from 'node:child_process'
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

/**
 * The reaper's program: it holds the process groups the peer told it of
 * (`+pgid` / `-pgid` lines on its stdin) and, when its stdin ends (the peer
 * exited, `kill -9` included: the kernel closes the pipe), SIGKILLs each.
 */
const REAPER = `
const groups = new Set()
let rest = ''
process.on('SIGINT', () => {})
process.on('SIGTERM', () => {})
process.stdin.setEncoding('utf8')
process.stdin.on('data', chunk => {
  rest += chunk
  let i
  while ((i = rest.indexOf('\\n')) >= 0) {
    const line = rest.slice(0, i)
    rest = rest.slice(i + 1)
    const pgid = Number(line.slice(1))
    if (!Number.isInteger(pgid) || pgid <= 1) continue
    if (line[0] === '+') groups.add(pgid)
    else groups.delete(pgid)
  }
})
const reap = () => {
  for (const g of groups) { try { process.kill(-g, 'SIGKILL') } catch {} }
  process.exit(0)
}
process.stdin.on('end', reap)
process.stdin.on('error', reap)
`

let reaper: ChildProcess | undefined

/**
 * Makes sure the child's process group dies with this process, however
 * this process ends. Children are detached (each leads its own group), so a
 * `kill -9` of the peer would leave a job's script running on while the job
 * runs again elsewhere. A small reaper process, started once and in a group
 * of its own, holds a pipe from this process and kills every group still
 * registered when the pipe closes. The group leaves the list when the child
 * exits.
 */
export function reapWithThisProcess (child: ChildProcess): void {
  const pgid = child.pid
  if (pgid === undefined) return
  const r = startReaper()
  if (r === undefined) return
  r.stdin?.write(`+${pgid}\n`)
  child.once('exit', () => { if (reaper === r) r.stdin?.write(`-${pgid}\n`) })
}

function startReaper (): ChildProcess | undefined {
  if (reaper !== undefined && reaper.exitCode === null && reaper.signalCode === null) return reaper
  try {
    const r = spawn(process.execPath, ['-e', REAPER], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
    r.on('error', () => { if (reaper === r) reaper = undefined })
    r.on('exit', () => { if (reaper === r) reaper = undefined })
    r.stdin?.on('error', () => {})
    // Neither the reaper nor its pipe keeps this process alive.
    r.unref()
    ;(r.stdin as unknown as { unref?: () => void } | null)?.unref?.()
    reaper = r
    return r
  } catch {
    return undefined
  }
}
