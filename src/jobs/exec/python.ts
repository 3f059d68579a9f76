import { dirname, join } from 'node:path'
import { processError, type AttemptContext, type RawResult } from './attempt.js'
import { runProcess } from './process-run.js'

/** The bundled Python package (`pulzarcore`) and its launcher, from the package root. */
export interface PythonPaths { pythonPath: string, launcher: string }

export function pythonPaths (packageRoot: string): PythonPaths {
  const pythonPath = join(packageRoot, 'python')
  return { pythonPath, launcher: join(pythonPath, 'pulzarcore', 'pmz_launch.py') }
}

/** A line of the launcher's channel (fd 3), see python/pulzarcore/pmz_launch.py. */
type ChannelMessage =
  | { t: 'log', line: string }
  | { t: 'output', text: string }
  | { t: 'result', ok: boolean, error?: string | null }

/**
 * Runs a Pulzar job class (pulzar-api.md §7) through the bundled adapter:
 * `python3 pmz_launch.py SCRIPT` with PYTHONPATH on the bundled
 * `pulzarcore`. Log and output lines come back on fd 3 as JSON lines; the
 * script's own stdout and stderr are log lines too. A run that ends without
 * a result (import error, crash, kill) fails with the reason.
 */
export async function runPython (ctx: AttemptContext, python: string, paths: PythonPaths): Promise<RawResult> {
  const output: string[] = []
  let result: { ok: boolean, error?: string } | undefined
  const onChannelLine = (line: string): void => {
    let msg: ChannelMessage
    try {
      msg = JSON.parse(line) as ChannelMessage
    } catch {
      ctx.log(line, 'stderr')
      return
    }
    if (msg.t === 'log') ctx.log(String(msg.line), 'info')
    else if (msg.t === 'output') output.push(String(msg.text))
    else if (msg.t === 'result') result = { ok: msg.ok === true, error: msg.error ?? undefined }
  }
  const json = JSON.stringify(ctx.spec.args ?? {})
  const inherited = ctx.env.PYTHONPATH
  const r = await runProcess(ctx, {
    command: python,
    args: [paths.launcher, ctx.spec.seed.path],
    env: {
      ...ctx.env,
      PMZ_ARGS: json,
      PMZ_SCHEDULED: ctx.spec.scheduled === true ? '1' : '',
      PMZ_CHANNEL_FD: '3',
      PYTHONPATH: inherited !== undefined && inherited !== '' ? `${paths.pythonPath}:${inherited}` : paths.pythonPath,
      PYTHONUNBUFFERED: '1',
      PYTHONDONTWRITEBYTECODE: '1'
    },
    cwd: dirname(ctx.spec.seed.path),
    stdin: json,
    onChannelLine
  })
  const ended = { exitCode: r.exitCode ?? undefined, signal: r.signal ?? undefined }
  const text = output.join('\n')
  if (r.spawnError !== undefined) return { ok: false, output: text, error: r.spawnError }
  if (result === undefined) return { ok: false, output: text, error: processError(r), ...ended }
  if (result.ok && r.exitCode === 0) return { ok: true, output: text, ...ended }
  return { ok: false, output: text, error: result.error ?? processError(r), ...ended }
}
