import { dirname } from 'node:path'
import { parseOutput, processError, type AttemptContext, type RawResult } from './attempt.js'
import { OUTPUT_MAX_BYTES } from './constants.js'
import { runProcess } from './process-run.js'

/**
 * Runs an executable seed (DESIGN.md "Seeds"): the args as JSON on stdin and
 * in PMZ_ARGS, stdout is the output (JSON when it parses), exit 0 = ready,
 * non-zero = failed with the end of stderr as the error.
 */
export async function runExecutable (ctx: AttemptContext): Promise<RawResult> {
  const json = JSON.stringify(ctx.spec.args ?? {})
  const r = await runProcess(ctx, {
    command: ctx.spec.seed.path,
    args: [],
    env: { ...ctx.env, PMZ_ARGS: json },
    cwd: dirname(ctx.spec.seed.path),
    stdin: json
  })
  const ended = { exitCode: r.exitCode ?? undefined, signal: r.signal ?? undefined }
  if (r.spawnError !== undefined) return { ok: false, output: null, error: r.spawnError }
  if (r.stdoutOverflow) return { ok: false, output: null, error: `output larger than ${OUTPUT_MAX_BYTES} bytes`, ...ended }
  if (r.exitCode === 0) return { ok: true, output: parseOutput(r.stdout), ...ended }
  return { ok: false, output: parseOutput(r.stdout), error: processError(r), ...ended }
}
