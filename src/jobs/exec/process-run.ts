import { spawn, type StdioPipe } from 'node:child_process'
import type { Readable } from 'node:stream'
import type { AttemptContext } from './attempt.js'
import { OUTPUT_MAX_BYTES, STDERR_TAIL_BYTES } from './constants.js'
import { LineSplitter, TailBuffer } from './log-buffer.js'
import { killGroup, killOnAbort, reapWithThisProcess } from './process-group.js'

export interface ProcessRun {
  command: string
  args: string[]
  env: NodeJS.ProcessEnv
  cwd?: string
  /** Written to stdin, which is then closed. */
  stdin: string
  /** Opens fd 3 as a pipe from the child and hands over its lines (the Python adapter's channel). */
  onChannelLine?: (line: string) => void
}

export interface ProcessResult {
  exitCode: number | null
  signal: string | null
  /** Stdout as text, up to OUTPUT_MAX_BYTES. */
  stdout: string
  stdoutOverflow: boolean
  stderrTail: string
  /** Set when the process could not be started (ENOENT, EACCES). */
  spawnError?: string
}

/**
 * Runs one process for an attempt: stdout and stderr lines go to the log as
 * they come, stdout is also collected (bounded), the attempt's signal kills
 * the process group (SIGTERM, then SIGKILL after the grace). Resolves once
 * the process exited and its pipes closed; never rejects.
 */
export function runProcess (ctx: Pick<AttemptContext, 'signal' | 'clock' | 'killGraceMs' | 'log'>, run: ProcessRun): Promise<ProcessResult> {
  return new Promise(resolve => {
    const stdio: StdioPipe[] = run.onChannelLine === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe']
    const child = spawn(run.command, run.args, { env: run.env, cwd: run.cwd, stdio, detached: true })
    reapWithThisProcess(child)
    const out: Buffer[] = []
    let outBytes = 0
    let overflow = false
    const tail = new TailBuffer(STDERR_TAIL_BYTES)
    const outLines = new LineSplitter(line => ctx.log(line, 'stdout'))
    const errLines = new LineSplitter(line => ctx.log(line, 'stderr'))
    let spawnError: string | undefined
    let exit: { code: number | null, signal: string | null } | undefined
    let settled = false
    const disarm = killOnAbort(child, ctx.signal, ctx.clock, ctx.killGraceMs)

    const finish = (): void => {
      if (settled) return
      settled = true
      disarm()
      outLines.end()
      errLines.end()
      resolve({
        exitCode: exit?.code ?? null,
        signal: exit?.signal ?? null,
        stdout: Buffer.concat(out).toString('utf8'),
        stdoutOverflow: overflow,
        stderrTail: tail.text(),
        spawnError
      })
    }

    child.stdout?.on('data', (chunk: Buffer) => {
      outLines.write(chunk)
      if (outBytes + chunk.length > OUTPUT_MAX_BYTES) {
        // An output this large is a bug of the seed: stop it rather than hold it all.
        if (!overflow) killGroup(child, 'SIGKILL')
        overflow = true
        return
      }
      out.push(chunk)
      outBytes += chunk.length
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      errLines.write(chunk)
      tail.write(chunk)
    })
    if (run.onChannelLine !== undefined) {
      const channel = new LineSplitter(run.onChannelLine, 1 << 24)
      const fd3 = child.stdio[3] as Readable | null
      fd3?.on('data', (chunk: Buffer) => channel.write(chunk))
      fd3?.on('end', () => channel.end())
    }
    child.stdin?.on('error', () => { /* the process may not read its stdin */ })
    child.stdin?.end(run.stdin)

    child.on('error', err => {
      spawnError = `cannot start ${run.command}: ${(err as NodeJS.ErrnoException).code ?? err.message}`
      if (child.pid === undefined) finish()
    })
    child.on('exit', (code, signal) => {
      exit = { code, signal }
      // Whatever the job left running in its group goes with it (and lets the pipes close).
      killGroup(child, 'SIGKILL')
    })
    child.on('close', finish)
  })
}
