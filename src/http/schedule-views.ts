// How schedules read over HTTP (pulzar-api.md §9.3, issue 15): Pulzar's
// fields with Pulzar's names, types and time format first, pmz's own fields
// after them. Pure: a schedule and its firings (jobs of the table) in, JSON out.
import { nextDecisionAt, type JobView, type Schedule, type ScheduleSpec } from '../jobs/index.js'
import { jobNames, pulzarTime } from './job-views.js'

/** What an execution (a firing's job) shows as `state`: Pulzar's ok or failed, and pmz's pending while it is queued or runs. */
export type ExecutionState = 'ok' | 'failed' | 'pending'

export function executionState (j: JobView): ExecutionState {
  return j.state === 'ready' ? 'ok' : j.state === 'failed' || j.state === 'cancelled' ? 'failed' : 'pending'
}

/** The largest unit that divides an `every`, biggest first (Pulzar's interval names plus seconds). */
const UNITS: ReadonlyArray<[plural: string, ms: number]> = [
  ['weeks', 7 * 86_400_000], ['days', 86_400_000], ['hours', 3_600_000], ['minutes', 60_000], ['seconds', 1000]
]

/** An `every` in its largest whole unit: `{ interval: 'minutes', count: 5 }` for 5 minutes; milliseconds when no unit divides it. */
function wholeUnit (ms: number): { interval: string, count: number } {
  const unit = UNITS.find(([, u]) => ms % u === 0)
  return unit === undefined ? { interval: 'milliseconds', count: ms } : { interval: unit[0], count: ms / unit[1] }
}

/** `"5 minutes"`, `"1 second"`, `"90 seconds"`: an `every` as `--every` and the `every` form take it. */
export function formatEvery (ms: number): string {
  const { interval, count } = wholeUnit(ms)
  return `${count} ${count === 1 ? interval.slice(0, -1) : interval}`
}

/**
 * Pulzar's `interval`, `time_unit` and `repeat` of a schedule: as given when
 * it came in Pulzar's form; for `every`, its largest whole unit (`seconds`
 * below a minute); for `cron`, `"cron"` and a null time_unit. `repeat` is 0
 * for a schedule that fires once, else 1.
 */
export function pulzarTiming (spec: ScheduleSpec): { interval: string, time_unit: number | null, repeat: number } {
  if (spec.pulzar !== undefined) return { interval: spec.pulzar.interval, time_unit: spec.pulzar.timeUnit, repeat: spec.pulzar.repeat }
  const repeat = spec.once ? 0 : 1
  if (spec.timing.kind === 'cron') return { interval: 'cron', time_unit: null, repeat }
  const { interval, count } = wholeUnit(spec.timing.everyMs)
  return { interval, time_unit: count, repeat }
}

/** When the schedule fires next (ms), for a live schedule; undefined for a cancelled or done one, or a cron with no tick left. */
export function nextExecutionAt (s: Readonly<Schedule>): number | undefined {
  return s.state === 'scheduled' ? nextDecisionAt(s) : undefined
}

/** pmz's fields of a schedule: how it is timed and its policies, what it fired and skipped, where it came from. */
function pmzScheduleFields (s: Readonly<Schedule>): Record<string, unknown> {
  const t = s.spec.timing
  return {
    job_path: jobNames(s.template.seed).job_path,
    seed: s.template.seed,
    every: t.kind === 'every' ? formatEvery(t.everyMs) : null,
    cron: t.kind === 'cron' ? t.expr : null,
    tz: t.kind === 'cron' ? t.tz ?? 'UTC' : null,
    catch_up: s.spec.catchUp,
    max_catch_up: s.spec.maxCatchUp,
    overlap: s.spec.overlap,
    fired: s.fired,
    skipped: s.skipped,
    from_seed: s.fromSeed ?? null,
    cancel_time: s.cancelledAt === undefined ? null : pulzarTime(s.cancelledAt)
  }
}

/** The Pulzar time of the schedule's next firing, or null. */
function nextExecution (s: Readonly<Schedule>): string | null {
  const at = nextExecutionAt(s)
  return at === undefined ? null : pulzarTime(at)
}

/**
 * One item of `admin/scheduled_jobs` (and of `admin/jobs`'s `scheduled`):
 * `{job_id, job_name, parameters (a JSON string), creation_time, interval,
 * time_unit, repeat, next_execution, state}`, then pmz's fields.
 */
export function scheduleItem (s: Readonly<Schedule>): Record<string, unknown> {
  return {
    job_id: s.scheduleId,
    job_name: jobNames(s.template.seed).job_name,
    parameters: JSON.stringify(s.template.args),
    creation_time: pulzarTime(s.createdAt),
    ...pulzarTiming(s.spec),
    next_execution: nextExecution(s),
    state: s.state,
    ...pmzScheduleFields(s)
  }
}

/** Seconds the firing's latest attempt ran, or null while none ended. */
function seconds (j: JobView): number | null {
  const d = j.attempts[j.attempts.length - 1]?.durationMs
  return d === undefined ? null : d / 1000
}

/** Pulzar's fields of one execution (`log` is `"na"` while it is pending), then pmz's. */
function execution (j: JobView): Record<string, unknown> {
  const state = executionState(j)
  return {
    exec_id: j.jobId,
    state,
    log: state === 'pending' ? 'na' : j.log,
    output: j.output ?? null,
    datetime: pulzarTime(j.firedAt ?? j.createdAt),
    job_state: j.state,
    node: j.peerId ?? null,
    error: j.error ?? null,
    time: seconds(j)
  }
}

/**
 * `admin/scheduled_jobs/{id}`: `{job (the id as a string), job_path,
 * job_name, next_execution, state, last_executions, creation}`, then pmz's
 * fields. `firings` are the schedule's jobs, newest first: every one is an
 * execution (a skipped tick is none), ok, failed or pending.
 */
export function scheduleDetail (s: Readonly<Schedule>, firings: readonly JobView[]): Record<string, unknown> {
  const names = jobNames(s.template.seed)
  return {
    job: String(s.scheduleId),
    job_path: names.job_path,
    job_name: names.job_name,
    next_execution: nextExecution(s),
    state: s.state,
    last_executions: firings.map(execution),
    creation: pulzarTime(s.createdAt),
    job_id: s.scheduleId,
    parameters: JSON.stringify(s.template.args),
    ...pulzarTiming(s.spec),
    ...pmzScheduleFields(s)
  }
}

/** `admin/scheduled_jobs/{id}?filter=state`: `{job, state, next_execution}`. */
export function scheduleStatus (s: Readonly<Schedule>): Record<string, unknown> {
  return { job: String(s.scheduleId), state: s.state, next_execution: nextExecution(s) }
}

/** The fields an execution item takes from its schedule (computed once per schedule: a cron's next tick is not free). */
function executionHead (s: Readonly<Schedule>): { head: Record<string, unknown>, tail: Record<string, unknown> } {
  const { interval, time_unit: timeUnit } = pulzarTiming(s.spec)
  return {
    head: { job_id: s.scheduleId, job_name: jobNames(s.template.seed).job_name, parameters: JSON.stringify(s.template.args), creation: pulzarTime(s.createdAt), interval, time_unit: timeUnit },
    tail: { next_execution: nextExecution(s) }
  }
}

/**
 * The items of `admin/scheduled_jobs/ok|failed`, one per firing (each of a
 * schedule in `schedules`): `{exec_id, job_id (the schedule), job_name,
 * parameters, creation, interval, time_unit, log, output, datetime,
 * next_execution}`, then pmz's fields.
 */
export function executionItems (schedules: ReadonlyMap<number, Readonly<Schedule>>, firings: readonly JobView[]): Array<Record<string, unknown>> {
  const heads = new Map<number, ReturnType<typeof executionHead>>()
  const out: Array<Record<string, unknown>> = []
  for (const j of firings) {
    const s = j.scheduleId === undefined ? undefined : schedules.get(j.scheduleId)
    if (s === undefined) continue
    let h = heads.get(s.scheduleId)
    if (h === undefined) heads.set(s.scheduleId, h = executionHead(s))
    const { exec_id: execId, log, output, datetime, ...pmz } = execution(j)
    out.push({ exec_id: execId, ...h.head, log, output, datetime, ...h.tail, ...pmz, seed: s.template.seed })
  }
  return out
}
