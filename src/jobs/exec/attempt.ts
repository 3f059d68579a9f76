import type { Clock } from '../../common/clock.js'
import type { AttemptSpec, LogStream } from './types.js'

/** Why an attempt's signal fired. */
export type AbortCause = 'cancel' | 'timeout'

/** What an executor gets for one attempt: the spec, the signal and where lines and progress go. */
export interface AttemptContext {
  readonly spec: AttemptSpec
  /** Fires on cancel or timeout; its `reason` is the {@link AbortCause}. */
  readonly signal: AbortSignal
  readonly killGraceMs: number
  readonly clock: Clock
  /** The environment of the attempt's process: the runner's base plus PMZ_JOB_ID, PMZ_ATTEMPT, PMZ_PEER_ID, PMZ_DATA_FILE. */
  readonly env: NodeJS.ProcessEnv
  log(line: string, stream: LogStream): void
  progress(fraction: number, text?: string): void
}

/** What an executor reports; the runner turns it into an AttemptOutcome. */
export interface RawResult {
  ok: boolean
  output: unknown
  error?: string
  exitCode?: number
  signal?: string
}

export type Executor = (ctx: AttemptContext) => Promise<RawResult>

/** The PMZ_* variables every job process sees. */
export function jobEnv (base: NodeJS.ProcessEnv, spec: AttemptSpec): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    PMZ_JOB_ID: String(spec.jobId),
    PMZ_ATTEMPT: String(spec.attempt),
    PMZ_PEER_ID: spec.peerId,
    PMZ_SEED: spec.seed.name
  }
  if (spec.dataFile !== undefined) env.PMZ_DATA_FILE = spec.dataFile
  else delete env.PMZ_DATA_FILE
  if (spec.schedule !== undefined) {
    env.PMZ_SCHEDULE_ID = String(spec.schedule.scheduleId)
    env.PMZ_FIRED_AT = String(spec.schedule.firedAt)
  } else {
    delete env.PMZ_SCHEDULE_ID
    delete env.PMZ_FIRED_AT
  }
  return env
}

/** An executable's stdout as an output: JSON when the whole of it parses, else the trimmed text. */
export function parseOutput (stdout: string): unknown {
  const text = stdout.trim()
  if (text === '') return ''
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** The reason a process that did not succeed gives: its stderr's end, or how it ended. */
export function processError (r: { exitCode: number | null, signal: string | null, stderrTail: string }): string {
  if (r.stderrTail !== '') return r.stderrTail
  if (r.signal !== null) return `killed by ${r.signal}`
  return `exited with code ${r.exitCode ?? 'unknown'}`
}
