// When a schedule fires, pure: the `scheduled` object of a launch (Pulzar's
// interval/time_unit/repeat, pmz's every and cron) checked into a Timing, and
// the ticks of a Timing. Cron expressions and time zones are croner's (its
// DST rules apply); no hand-written cron parser.
import { Cron } from 'croner'

/** Fires every `everyMs` after its anchor (the schedule's creation), or on a cron expression in a time zone. */
export type Timing =
  | { kind: 'every', everyMs: number }
  | { kind: 'cron', expr: string, tz?: string }

/** Ticks missed while no coordinator could fire them: none fired, the newest one (default), or each, up to maxCatchUp. */
export type CatchUp = 'none' | 'last' | 'all'
/** A tick that comes while the previous firing still runs: skipped (default), queued behind it, or run beside it. */
export type Overlap = 'skip' | 'queue' | 'allow'

/** Everything a schedule needs to know when to fire. */
export interface ScheduleSpec {
  timing: Timing
  catchUp: CatchUp
  /** Most missed ticks fired at once under `catchUp: all`. */
  maxCatchUp: number
  overlap: Overlap
  /** Fires one tick, then ends (Pulzar's `repeat: 0`). */
  once: boolean
  /** What Pulzar's views show: `interval`, `time_unit`, `repeat` (null for pmz's forms). */
  pulzar?: { interval: string, timeUnit: number, repeat: number }
}

/** Default and upper bound of `maxCatchUp`. */
export const DEFAULT_MAX_CATCH_UP = 10
export const MAX_CATCH_UP = 100
/** Shortest `every`: one second. */
export const MIN_EVERY_MS = 1000
/** Longest `every`: a year. */
export const MAX_EVERY_MS = 366 * 24 * 3600 * 1000

const UNIT_MS: Readonly<Record<string, number>> = {
  second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 7 * 86_400_000
}

/** Pulzar's intervals and the time units each allows (pulzar-api.md §6.2). */
const PULZAR_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  minutes: [5, 59], hours: [1, 23], days: [1, 31], weeks: [1, 4]
}

/** A checked ScheduleSpec, or the message of a 400 (Pulzar's texts where Pulzar has one). */
export type Parsed = { ok: true, spec: ScheduleSpec } | { ok: false, msg: string }

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** Reads a launch's `scheduled` object (§6.2, and pmz's `every` / `cron` forms with `catchUp`, `maxCatchUp`, `overlap`). */
export function parseScheduled (x: unknown): Parsed {
  if (!isObj(x)) return { ok: false, msg: 'scheduled must be an object' }
  const policy = parsePolicy(x)
  if (typeof policy === 'string') return { ok: false, msg: policy }
  if (x.interval !== undefined) return pulzarForm(x, policy)
  if (x.every !== undefined) {
    const everyMs = parseEvery(x.every)
    if (typeof everyMs === 'string') return { ok: false, msg: everyMs }
    return { ok: true, spec: { timing: { kind: 'every', everyMs }, ...policy } }
  }
  if (x.cron !== undefined) {
    if (typeof x.cron !== 'string' || x.cron.trim() === '') return { ok: false, msg: 'cron must be a cron expression' }
    if (x.tz !== undefined && (typeof x.tz !== 'string' || x.tz === '')) return { ok: false, msg: 'tz must be an IANA time zone name' }
    const timing: Timing = { kind: 'cron', expr: x.cron.trim(), ...(typeof x.tz === 'string' ? { tz: x.tz } : {}) }
    const problem = checkCron(timing)
    return problem === undefined ? { ok: true, spec: { timing, ...policy } } : { ok: false, msg: problem }
  }
  return { ok: false, msg: 'scheduled needs interval/time_unit/repeat, every or cron' }
}

type Policy = Omit<ScheduleSpec, 'timing'>

function parsePolicy (x: Record<string, unknown>): Policy | string {
  const catchUp = x.catchUp ?? 'last'
  if (catchUp !== 'none' && catchUp !== 'last' && catchUp !== 'all') return 'catchUp must be none, last or all'
  const overlap = x.overlap ?? 'skip'
  if (overlap !== 'skip' && overlap !== 'queue' && overlap !== 'allow') return 'overlap must be skip, queue or allow'
  const maxCatchUp = x.maxCatchUp ?? DEFAULT_MAX_CATCH_UP
  if (!Number.isSafeInteger(maxCatchUp) || (maxCatchUp as number) < 1 || (maxCatchUp as number) > MAX_CATCH_UP) {
    return `maxCatchUp must be an integer from 1 to ${MAX_CATCH_UP}`
  }
  return { catchUp, overlap, maxCatchUp: maxCatchUp as number, once: false }
}

/** `{"interval": "minutes", "time_unit": 5, "repeat": 1}`: Pulzar's ranges and messages; the interval is case-insensitive. */
function pulzarForm (x: Record<string, unknown>, policy: Policy): Parsed {
  // Pulzar answers a missing field with its KeyError text ('repeat') and an unknown interval with ""; pmz says what is wrong.
  if (x.repeat === undefined) return { ok: false, msg: "'repeat': scheduled needs repeat (1: every interval, 0: once)" }
  if (x.time_unit === undefined) return { ok: false, msg: "'time_unit': scheduled needs time_unit" }
  const interval = typeof x.interval === 'string' ? x.interval.toLowerCase() : ''
  const range = PULZAR_RANGES[interval]
  if (range === undefined) return { ok: false, msg: 'interval must be minutes, hours, days or weeks' }
  const unit = typeof x.time_unit === 'string' && /^\d{1,9}$/.test(x.time_unit.trim()) ? Number(x.time_unit) : x.time_unit
  if (!Number.isSafeInteger(unit) || (unit as number) < range[0] || (unit as number) > range[1]) {
    return { ok: false, msg: 'interval not allowed for the time_unit' }
  }
  const repeat = typeof x.repeat === 'string' && /^\d$/.test(x.repeat) ? Number(x.repeat) : x.repeat
  if (repeat !== 0 && repeat !== 1 && repeat !== true && repeat !== false) return { ok: false, msg: 'repeat must be 0 or 1' }
  const everyMs = (unit as number) * UNIT_MS[interval.slice(0, -1)]
  return {
    ok: true,
    spec: { timing: { kind: 'every', everyMs }, ...policy, once: repeat === 0 || repeat === false, pulzar: { interval, timeUnit: unit as number, repeat: repeat === 0 || repeat === false ? 0 : 1 } }
  }
}

/** `"5 minutes"`, `"1 second"`, `"hour"`, `"90s"`: ms, or the problem. */
export function parseEvery (x: unknown): number | string {
  const problem = 'every must be like "30 seconds", "5 minutes", "2 hours", "1 day" or "1 week"'
  if (typeof x !== 'string') return problem
  const m = /^\s*(\d{1,9})?\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?|w|weeks?)\s*$/i.exec(x)
  if (m === null) return problem
  const unit = m[2].toLowerCase()
  const base = unit.startsWith('s') ? 'second' : unit.startsWith('m') ? 'minute' : unit.startsWith('h') ? 'hour' : unit.startsWith('d') ? 'day' : 'week'
  const ms = Number(m[1] ?? '1') * UNIT_MS[base]
  if (ms < MIN_EVERY_MS || ms > MAX_EVERY_MS) return 'every must be from 1 second to 1 year'
  return ms
}

function checkCron (t: Extract<Timing, { kind: 'cron' }>): string | undefined {
  try {
    const next = cronOf(t).nextRun(new Date(0))
    return next === null ? 'the cron expression never fires' : undefined
  } catch (err) {
    const message = (err as Error).message
    return /timezone/i.test(message) ? `unknown time zone ${t.tz ?? ''}` : `bad cron expression: ${message.replace(/^CronPattern: /, '')}`
  }
}

/** Parsed cron patterns, by expression and zone: a firing pass asks for many ticks of few patterns. */
const crons = new Map<string, Cron>()

function cronOf (t: Extract<Timing, { kind: 'cron' }>): Cron {
  const id = `${t.tz ?? ''}\u0000${t.expr}`
  let c = crons.get(id)
  if (c === undefined) {
    c = new Cron(t.expr, { paused: true, ...(t.tz !== undefined ? { timezone: t.tz } : { timezone: 'UTC' }) })
    if (crons.size > 10_000) crons.clear()
    crons.set(id, c)
  }
  return c
}

/**
 * The first tick strictly after `after` (ms since the epoch), or undefined
 * when there is none. An `every` timing ticks at anchor + k * everyMs, k ≥ 1
 * (Pulzar fires one interval after registration, not at once).
 */
export function nextTick (timing: Timing, anchor: number, after: number): number | undefined {
  if (timing.kind === 'every') {
    const k = Math.max(1, Math.floor((after - anchor) / timing.everyMs) + 1)
    return anchor + k * timing.everyMs
  }
  const next = cronOf(timing).nextRun(new Date(Math.max(after, anchor)))
  return next === null ? undefined : next.getTime()
}

/**
 * The newest `n` ticks in (after, at], oldest first: what is due at `at`
 * when `after` was the last tick fired. Bounded by `n` whatever the gap.
 */
export function ticksIn (timing: Timing, anchor: number, after: number, at: number, n: number): number[] {
  if (n < 1 || at <= after) return []
  if (timing.kind === 'every') {
    const newest = Math.floor((at - anchor) / timing.everyMs)
    const oldest = Math.max(1, Math.floor((after - anchor) / timing.everyMs) + 1, newest - n + 1)
    const out: number[] = []
    for (let k = oldest; k <= newest; k++) out.push(anchor + k * timing.everyMs)
    return out
  }
  // Walk forward from `after` (usually zero or one tick is due); only a gap of more than n ticks asks croner for the newest n.
  const walked: number[] = []
  for (let t = nextTick(timing, anchor, after); t !== undefined && t <= at; t = nextTick(timing, anchor, t)) {
    walked.push(t)
    if (walked.length > n) {
      // croner's previousRuns excludes its reference: one ms past `at` includes a tick at `at`.
      return cronOf(timing).previousRuns(n, new Date(at + 1)).map(d => d.getTime()).filter(x => x > after && x > anchor).reverse()
    }
  }
  return walked
}
