// Schedules from the command line (issue 15): the `scheduled` object that
// `pmz job launch --every | --cron` sends, and `pmz jobs --state scheduled`.
import { CliError, GatewayClient } from '../client.js'
import { formatTable, type Column } from '../table.js'
import type { ClientFlags } from './storage.js'

/** The schedule states `--state` may name (the words of admin/scheduled_jobs's `state`). */
export const SCHEDULE_STATES = ['scheduled', 'canceled', 'done'] as const

/** The flags of `pmz job launch` that make it a schedule. */
export interface ScheduleFlags {
  every?: string
  cron?: string
  tz?: string
  catchUp?: string
  overlap?: string
}

/**
 * The launch body's `scheduled` object of the flags, or undefined when none
 * asks for a schedule. The gateway checks the values (and says what is
 * wrong); this only refuses combinations that mean nothing.
 */
export function scheduledOf (flags: ScheduleFlags): Record<string, string> | undefined {
  const { every, cron, tz, catchUp, overlap } = flags
  if (every === undefined && cron === undefined) {
    const stray = tz !== undefined ? '--tz' : catchUp !== undefined ? '--catch-up' : overlap !== undefined ? '--overlap' : undefined
    if (stray !== undefined) throw new CliError(`${stray} needs --every or --cron`)
    return undefined
  }
  if (every !== undefined && cron !== undefined) throw new CliError('give --every or --cron, not both')
  if (tz !== undefined && cron === undefined) throw new CliError('--tz goes with --cron')
  return {
    ...(every !== undefined ? { every } : { cron: cron as string }),
    ...(tz !== undefined ? { tz } : {}),
    ...(catchUp !== undefined ? { catchUp } : {}),
    ...(overlap !== undefined ? { overlap } : {})
  }
}

/**
 * The schedule states of a `--state` list, or undefined when it names job
 * states only; a list mixing both is refused (they are two views).
 */
export function scheduleStatesOf (state: string): string[] | undefined {
  const words = state.split(',').map(s => s.trim()).filter(s => s !== '')
  const of = words.filter(w => (SCHEDULE_STATES as readonly string[]).includes(w))
  if (of.length === 0) return undefined
  if (of.length !== words.length) throw new CliError(`--state: schedule states (${SCHEDULE_STATES.join(', ')}) and job states cannot be mixed`)
  return of
}

/** A row of `admin/scheduled_jobs`. */
export interface ScheduleRow {
  job_id: number
  seed: string
  state: string
  interval: string
  time_unit: number | null
  every: string | null
  cron: string | null
  tz: string | null
  next_execution: string | null
  fired: number
  skipped: number
  creation_time: string | null
}

/** `every 5 minutes`, `cron 0 9 * * 1-5 Europe/Madrid`: how a schedule fires, in one cell. */
export function whenCell (s: ScheduleRow): string {
  if (s.every !== null) return `every ${s.every}`
  if (s.cron !== null) return `cron ${s.cron}${s.tz !== null && s.tz !== 'UTC' ? ` ${s.tz}` : ''}`
  return `${s.time_unit ?? ''} ${s.interval}`.trim()
}

const time = (t: string | null): string => (t ?? '-').replace(/\+0000$/, '')

export const SCHEDULE_COLUMNS: ReadonlyArray<Column<ScheduleRow>> = [
  ['ID', s => String(s.job_id)],
  ['STATE', s => s.state],
  ['SEED', s => s.seed],
  ['WHEN', whenCell],
  ['NEXT (UTC)', s => time(s.next_execution)],
  ['FIRED', s => String(s.fired)],
  ['SKIPPED', s => String(s.skipped)],
  ['CREATED', s => time(s.creation_time)]
]

/** `pmz jobs --state scheduled[,canceled,done]`: the schedules in those states, newest first, as a table (or JSON). */
export async function listSchedules (states: string[], flags: ClientFlags & { limit: string, json?: boolean }): Promise<void> {
  const q = new URLSearchParams({ limit: flags.limit, state: states.join(',') })
  const env = await new GatewayClient(flags.gateway, flags.token).json<ScheduleRow[]>('GET', `/admin/scheduled_jobs?${q.toString()}`)
  if (flags.json === true) process.stdout.write(`${JSON.stringify(env.data)}\n`)
  else process.stdout.write(formatTable(SCHEDULE_COLUMNS, env.data))
}
