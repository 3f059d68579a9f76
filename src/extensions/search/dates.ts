import { badRequest } from '../../common/errors.js'

const DAY_MS = 86_400_000
const PULZAR_DATE = /^(\d{1,2})[-/](\d{1,2})[-/](\d{4})$/
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T/

/**
 * A calendar day as a number (days since 1970-01-01), so days compare and
 * subtract as integers. Built from the local calendar date, as Pulzar
 * compares upload dates in the master's local time.
 */
export type Day = number

/** The local calendar day of an instant (ms since the epoch). */
export function localDay (ms: number): Day {
  const d = new Date(ms)
  return Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) / DAY_MS
}

function dayOf (year: number, month: number, day: number): Day | undefined {
  const utc = Date.UTC(year, month - 1, day)
  const check = new Date(utc)
  // Date.UTC rolls 02-30 over to 03-02: a date that does not exist is refused, not moved.
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day) return undefined
  return utc / DAY_MS
}

/**
 * Parses a search date: Pulzar's `mm-dd-yyyy` (1-2 digit month and day, `-`
 * or `/`), an ISO date `yyyy-mm-dd`, or an ISO date-time (its local day).
 * Undefined when it is none of them or not a real date.
 */
export function parseDay (text: string): Day | undefined {
  const t = text.trim()
  let m = PULZAR_DATE.exec(t)
  if (m !== null) return dayOf(Number(m[3]), Number(m[1]), Number(m[2]))
  m = ISO_DATE.exec(t)
  if (m !== null) return dayOf(Number(m[1]), Number(m[2]), Number(m[3]))
  if (ISO_DATE_TIME.test(t)) {
    const ms = Date.parse(t)
    return Number.isNaN(ms) ? undefined : localDay(ms)
  }
  return undefined
}

/** An inclusive range of days; an open end is undefined. */
export interface DayRange { from?: Day, to?: Day }

/**
 * The date filter of a search (pulzar-api.md §5.1): `eq` = that day (wins
 * over the others), `lt` = on or before, `gt` = on or after, `lt` + `gt` = an
 * inclusive range. A malformed date is ERR_BAD_REQUEST (Pulzar ignored it).
 * `lt=A>=B` reads as `lt=A&gt=B` (see {@link readmeRange}).
 */
export function dayRange (query: { eq?: string, lt?: string, gt?: string }): DayRange {
  const params = { ...query, ...readmeRange(query) }
  const parse = (name: 'eq' | 'lt' | 'gt'): Day | undefined => {
    const raw = params[name]
    if (raw === undefined) return undefined
    const day = parseDay(raw)
    if (day === undefined) throw badRequest(`${name}: not a date, expected mm-dd-yyyy or yyyy-mm-dd`, { param: name })
    return day
  }
  const eq = parse('eq')
  const lt = parse('lt')
  const gt = parse('gt')
  if (eq !== undefined) return { from: eq, to: eq }
  return { from: gt, to: lt }
}

/** `lt=A>=B`: Pulzar's README range `?lt=A&gt=B` where `&gt` was read as the HTML entity for `>`. */
const README_RANGE = /^([^>]+)>=([^>]+)$/

/**
 * Pulzar's README writes the date range as `?lt=[date]&gt=[date]`; wherever
 * `&gt` is taken for an HTML entity it reads `?lt=[date]>=[date]` (so
 * pulzar-api.md §5.1 quotes it), and copied from there it reaches us as one
 * `lt` (Pulzar ignored it and filtered nothing). Read as the two dates it
 * meant, when both halves are dates and there is no `gt`; anything else is
 * left to fail as a malformed date.
 */
function readmeRange (params: { lt?: string, gt?: string }): { lt: string, gt: string } | undefined {
  if (params.lt === undefined || params.gt !== undefined) return undefined
  const m = README_RANGE.exec(params.lt)
  if (m === null || parseDay(m[1]) === undefined || parseDay(m[2]) === undefined) return undefined
  return { lt: m[1], gt: m[2] }
}
