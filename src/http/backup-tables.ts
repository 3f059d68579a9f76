import { request } from 'undici'
import type { BackupTables, ScheduleRecord, TablesReport } from '../backup/index.js'
import { PmzError, type ErrorCode } from '../common/errors.js'
import { MAX_PRIORITY, MAX_RETRIES, MIN_PRIORITY, parseScheduled, type Schedule, type ScheduleSpec } from '../jobs/index.js'
import { validateKey } from '../store/index.js'
import { MAX_JSON_DEPTH } from './constants.js'
import { FORWARDED_HEADER, settingJson } from './coordinator-routes.js'
import { checkJsonText } from './json-text.js'
import type { CoordinatorView, JobCatalogView, JobsView } from './types.js'

/** Deadline of a tables request to the coordinator's gateway, ms. */
const TABLES_TIMEOUT_MS = 30_000
/** Longest `timeoutMs` a restored schedule may carry (as a launch's `timeout_ms`): a week. */
const MAX_TIMEOUT_MS = 7 * 24 * 3600 * 1000

/** The coordinator's tables as a backup reads and a restore writes them. */
export interface TablesAccess {
  read(): Promise<BackupTables>
  apply(tables: BackupTables, options: { overwrite: boolean }): Promise<TablesReport>
}

export interface TablesComponents {
  coordinator: CoordinatorView
  jobs?: JobsView
  catalog?: JobCatalogView
}

/**
 * The tables on this peer when it has the coordinator role (after a read
 * barrier), else on the coordinator's gateway, asked over HTTP with the
 * caller's token (`authorization`).
 */
export function tablesOf (c: TablesComponents, authorization?: string): TablesAccess {
  return c.coordinator.local ? localTables(c) : remoteTables(c.coordinator, authorization)
}

/** The live schedules a client made (not a seed's own) and every setting. */
export function localTables (c: TablesComponents): TablesAccess {
  return {
    async read () {
      const settings = Object.fromEntries(Object.entries(await c.coordinator.settings()).map(([name, value]) => [name, settingJson(value)]))
      const schedules = c.jobs === undefined ? [] : (await c.jobs.schedules()).filter(s => s.state === 'scheduled' && s.fromSeed === undefined).map(recordOf)
      return { settings, schedules }
    },
    async apply (tables, { overwrite }) {
      const report: TablesReport = { settings: { restored: 0, existing: 0 }, schedules: { restored: 0, existing: 0, unknown_seed: 0, invalid: 0 } }
      const held = await c.coordinator.settings()
      for (const [name, text] of Object.entries(tables.settings)) {
        if (Object.hasOwn(held, name) && (!overwrite || settingJson(held[name]) === text)) {
          report.settings.existing++
          continue
        }
        const bytes = Buffer.from(text)
        checkJsonText(bytes, MAX_JSON_DEPTH)
        await c.coordinator.setSetting(name, bytes)
        report.settings.restored++
      }
      if (tables.schedules.length === 0) return report
      if (c.jobs === undefined || c.catalog === undefined) {
        report.schedules.unknown_seed += tables.schedules.length
        return report
      }
      const live = (await c.jobs.schedules()).filter(s => s.state === 'scheduled')
      // Oldest first, as they were made: the views list them in the same order as in the cluster backed up.
      for (const rec of [...tables.schedules].sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0))) {
        const parsed = parseScheduled(rec.scheduled)
        if (!parsed.ok || !validRecord(rec)) {
          report.schedules.invalid++
          continue
        }
        const seed = c.catalog.list().find(s => s.name === rec.seed && s.launchable)
        if (seed === undefined) {
          report.schedules.unknown_seed++
          continue
        }
        if (live.some(s => s.template.seed === rec.seed && stable(s.template.args) === stable(rec.args) && stable(s.spec) === stable(parsed.spec))) {
          report.schedules.existing++
          continue
        }
        await c.jobs.schedule({
          seed: rec.seed,
          seedHash: seed.hash,
          args: rec.args,
          spec: parsed.spec,
          ...(rec.priority !== undefined ? { priority: rec.priority } : {}),
          ...(rec.timeoutMs !== undefined ? { timeoutMs: rec.timeoutMs } : {}),
          ...(rec.retries !== undefined ? { retries: rec.retries } : {}),
          ...(rec.dataKey !== undefined ? { dataKey: rec.dataKey } : {})
        })
        report.schedules.restored++
      }
      return report
    }
  }
}

function remoteTables (co: CoordinatorView, authorization?: string): TablesAccess {
  const call = async (method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> => {
    const leader = co.leaderHttp()
    if (leader === undefined || leader === '') throw new PmzError('ERR_NO_COORDINATOR', 'no coordinator is known; try again shortly')
    let res
    try {
      res = await request(`${leader}${path}`, {
        method,
        body,
        headers: { [FORWARDED_HEADER]: '1', 'content-type': 'application/json', ...(authorization !== undefined ? { authorization } : {}) },
        headersTimeout: TABLES_TIMEOUT_MS,
        bodyTimeout: TABLES_TIMEOUT_MS
      })
    } catch (err) {
      throw new PmzError('ERR_NO_COORDINATOR', 'the coordinator could not be reached; try again shortly', { cause: err })
    }
    const env = await res.body.json().catch(() => undefined) as { data?: unknown, msg?: string, status?: string } | undefined
    if (res.statusCode !== 200 || env?.status !== 'ok') {
      const code: ErrorCode = res.statusCode === 503 ? 'ERR_NO_COORDINATOR' : 'ERR_REMOTE'
      throw new PmzError(code, `the coordinator answered ${res.statusCode}: ${env?.msg ?? 'no envelope'}`, { status: res.statusCode >= 400 ? res.statusCode : 502 })
    }
    return env.data
  }
  return {
    read: async () => await call('GET', '/admin/backup/tables') as BackupTables,
    apply: async (tables, { overwrite }) => await call('POST', `/admin/restore/tables${overwrite ? '?overwrite=1' : ''}`, JSON.stringify(tables)) as TablesReport
  }
}

/** A schedule as the archive keeps it: its job template and its `scheduled` object (what a launch sends). */
function recordOf (s: Readonly<Schedule>): ScheduleRecord {
  const t = s.template
  return {
    seed: t.seed,
    args: t.args,
    scheduled: scheduledOf(s.spec),
    ...(t.priority !== undefined ? { priority: t.priority } : {}),
    ...(t.timeoutMs !== undefined ? { timeoutMs: t.timeoutMs } : {}),
    ...(t.retries !== undefined ? { retries: t.retries } : {}),
    ...(t.dataKey !== undefined ? { dataKey: t.dataKey } : {}),
    createdAt: s.createdAt
  }
}

/** The `scheduled` object of a launch that parses back (parseScheduled) to `spec`. */
export function scheduledOf (spec: ScheduleSpec): Record<string, unknown> {
  const policy = { catchUp: spec.catchUp, maxCatchUp: spec.maxCatchUp, overlap: spec.overlap }
  if (spec.pulzar !== undefined) return { interval: spec.pulzar.interval, time_unit: spec.pulzar.timeUnit, repeat: spec.pulzar.repeat, ...policy }
  if (spec.timing.kind === 'every') return { every: `${Math.round(spec.timing.everyMs / 1000)} seconds`, ...policy }
  return { cron: spec.timing.expr, ...(spec.timing.tz !== undefined ? { tz: spec.timing.tz } : {}), ...policy }
}

/** A restored schedule's limits, as a launch checks them. */
function validRecord (rec: ScheduleRecord): boolean {
  const within = (x: number | undefined, min: number, max: number): boolean => x === undefined || (x >= min && x <= max)
  if (!within(rec.priority, MIN_PRIORITY, MAX_PRIORITY) || !within(rec.retries, 0, MAX_RETRIES) || !within(rec.timeoutMs, 1, MAX_TIMEOUT_MS)) return false
  if (rec.dataKey === undefined) return true
  try {
    validateKey(rec.dataKey)
    return true
  } catch {
    return false
  }
}

/** JSON with object keys sorted: two values are equal when their texts are. */
function stable (x: unknown): string {
  return JSON.stringify(x, (_k, v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
    : v)
}
