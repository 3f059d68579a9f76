// Schedule views and CLI on a real peer (issue 15, pulzar-api.md §9.3):
// admin/scheduled_jobs, /{id} with last_executions, /ok, /failed, the
// `scheduled` list of admin/jobs, pmz job launch --every/--cron, pmz jobs
// --state scheduled. Needs `npm run build` (bin/pmz runs dist/).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, catalogued, launch } from '../helpers/jobs.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const PULZAR_TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+0000$/
const LIST_FIELDS = ['job_id', 'job_name', 'parameters', 'creation_time', 'interval', 'time_unit', 'repeat', 'next_execution', 'state']
const DETAIL_FIELDS = ['job', 'job_path', 'job_name', 'next_execution', 'state', 'last_executions', 'creation']
const EXEC_FIELDS = ['exec_id', 'state', 'log', 'output', 'datetime']
const OK_FIELDS = ['exec_id', 'job_id', 'job_name', 'parameters', 'creation', 'interval', 'time_unit', 'log', 'output', 'datetime', 'next_execution']
// Fails when asked to, or on its first run when given a marker file (then succeeds).
const FLAKY = 'import { existsSync, writeFileSync } from "node:fs"\n' +
  'export default (args) => {\n' +
  '  if (args.fail === true) throw new Error("asked to fail")\n' +
  '  if (args.marker !== undefined && !existsSync(args.marker)) { writeFileSync(args.marker, "x"); throw new Error("first run fails") }\n' +
  '  return "fine"\n}\n'

/** Pulzar's time as ms since the epoch. */
const ms = (t: string): number => Date.parse(t.replace(' ', 'T').replace('+0000', 'Z'))

interface Exec { exec_id: number, job_id?: number, state: string, log: string, output: unknown, datetime: string }

describe('schedule views and CLI on one peer (issue 15)', () => {
  let a: Peer
  let get: (path: string) => Promise<{ status: number, json: any }>
  let mixed: number // every second, its first firing fails, the others succeed
  let failing: number // every second, every firing fails
  let pulzar: number // Pulzar's form, every 5 minutes
  let cron: number // 09:00 in Madrid

  beforeAll(async () => {
    const seeds = tempDir('pmz-sviews-seeds-')
    mkdirSync(join(seeds, 'views'))
    writeFileSync(join(seeds, 'views/flaky.mjs'), FLAKY)
    a = await startPeer({ args: ['--seeds', seeds, '--job-slots', '4'] })
    get = async path => await http('GET', `${a.url}${path}`)
    await catalogued(a, 'views/flaky')
    mixed = await launch(a, 'views/flaky', { marker: join(tempDir('pmz-sviews-m-'), 'marker'), scheduled: { every: '1 second', overlap: 'allow' } })
    failing = await launch(a, 'views/flaky', { fail: true, scheduled: { every: '1 second' } })
    pulzar = await launch(a, 'views/flaky', { n: 5, scheduled: { interval: 'Minutes', time_unit: '5', repeat: 1 } })
    cron = await launch(a, 'views/flaky', { scheduled: { cron: '0 9 * * *', tz: 'Europe/Madrid', catchUp: 'none' } })
  }, 40_000)

  afterAll(cleanupPeers)

  /** The schedule's detail once `ok` holds of it. */
  async function detailWhen (id: number, ok: (d: any) => boolean, what: string): Promise<any> {
    let d: any
    await waitFor(async () => { d = (await get(`/admin/scheduled_jobs/${id}`)).json?.data; return d !== undefined && ok(d) }, 15_000, what)
    return d
  }

  it('admin/scheduled_jobs: Pulzar\'s fields first, newest first, next_execution filled and in the future', async () => {
    const res = await get('/admin/scheduled_jobs')
    expect(res.status).toBe(200)
    const list = res.json.data as any[]
    expect(list.map(s => s.job_id)).toEqual([cron, pulzar, failing, mixed])
    for (const s of list) {
      expect(Object.keys(s).slice(0, LIST_FIELDS.length)).toEqual(LIST_FIELDS)
      expect(s.creation_time).toMatch(PULZAR_TIME)
      expect(s.next_execution).toMatch(PULZAR_TIME)
      expect(s.state).toBe('scheduled')
    }
    const p = list[1]
    expect(p).toMatchObject({ job_name: 'flaky', job_path: '/views', seed: 'views/flaky', parameters: '{"n":5}', interval: 'minutes', time_unit: 5, repeat: 1, every: '5 minutes', cron: null })
    // Pulzar fires one interval after registration, not at once.
    expect(ms(p.next_execution) - ms(p.creation_time)).toBeGreaterThanOrEqual(299_000)
    expect(ms(p.next_execution)).toBeGreaterThan(Date.now())
    const c = list[0]
    expect(c).toMatchObject({ interval: 'cron', time_unit: null, repeat: 1, cron: '0 9 * * *', tz: 'Europe/Madrid', catch_up: 'none', overlap: 'skip', every: null })
    expect(c.next_execution).toMatch(/ 0[78]:00:00\+0000$/) // 09:00 in Madrid is 07:00 or 08:00 UTC
    expect(ms(c.next_execution)).toBeGreaterThan(Date.now())
    expect(list[2]).toMatchObject({ interval: 'seconds', time_unit: 1, every: '1 second', catch_up: 'last', from_seed: null })
  })

  it('limit, filter and state in any order; bad values are 400, unknown ids 404', async () => {
    expect((await get('/admin/scheduled_jobs?limit=1')).json.data.map((s: any) => s.job_id)).toEqual([cron])
    for (const q of ['?limit=2&filter=state', '?filter=state&limit=2']) {
      const res = await get(`/admin/scheduled_jobs${q}`)
      expect(res.status, q).toBe(200)
      expect(res.json.data).toHaveLength(2)
    }
    for (const q of ['?limit=0', '?limit=x', '?filter=word', '?state=running']) {
      const res = await get(`/admin/scheduled_jobs${q}`)
      expect(res.status, q).toBe(400)
      expect(res.json).toMatchObject({ status: 'ko', data: null })
    }
    for (const path of ['/admin/scheduled_jobs/999999', '/admin/scheduled_jobs/ok/999999', '/admin/scheduled_jobs/failed/999999']) {
      const res = await get(path)
      expect(res.status, path).toBe(404)
      expect(res.json).toMatchObject({ status: 'ko', data: null })
    }
    expect((await get('/admin/scheduled_jobs/abc')).status).toBe(400)
    const plain = await launch(a, 'views/flaky', {})
    expect((await get(`/admin/scheduled_jobs/${plain}`)).status).toBe(404) // a job is no schedule
    expect((await http('POST', `${a.url}/admin/scheduled_jobs`)).status).toBe(405)
  })

  it('admin/scheduled_jobs/{id}: last_executions newest first, ok and failed; a firing\'s job views name its schedule', async () => {
    const d = await detailWhen(mixed, d => d.last_executions.some((e: Exec) => e.state === 'ok') && d.last_executions.some((e: Exec) => e.state === 'failed'),
      'an ok and a failed firing')
    expect(Object.keys(d).slice(0, DETAIL_FIELDS.length)).toEqual(DETAIL_FIELDS)
    expect(d).toMatchObject({ job: String(mixed), job_path: '/views', job_name: 'flaky', state: 'scheduled', job_id: mixed })
    expect(d.creation).toMatch(PULZAR_TIME)
    expect(d.next_execution).toMatch(PULZAR_TIME)
    const execs = d.last_executions as Exec[]
    expect(execs.map(e => e.exec_id)).toEqual([...execs.map(e => e.exec_id)].sort((x, y) => y - x))
    for (const e of execs) {
      expect(Object.keys(e).slice(0, EXEC_FIELDS.length)).toEqual(EXEC_FIELDS)
      expect(e.datetime).toMatch(PULZAR_TIME)
      expect(['ok', 'failed', 'pending']).toContain(e.state)
    }
    const first = execs[execs.length - 1] // the first firing failed (no marker yet)
    expect(first).toMatchObject({ state: 'failed', job_state: 'failed' })
    expect(first.log).toEqual(expect.any(String))
    const okExec = execs.find(e => e.state === 'ok')!
    expect(okExec).toMatchObject({ output: 'fine', job_state: 'ready' })
    const job = (await get(`/admin/jobs/${okExec.exec_id}`)).json.data
    expect(job).toMatchObject({ status: 'completed', schedule_id: mixed, fired_at: okExec.datetime, output: 'fine' })
    const item = (await get('/admin/all_jobs')).json.data.find((j: any) => j.job_id === okExec.exec_id)
    expect(item).toMatchObject({ schedule_id: mixed, fired_at: okExec.datetime })

    for (const q of ['?limit=1', '?limit=1&filter=state', '?filter=state&limit=1']) {
      expect((await get(`/admin/scheduled_jobs/${mixed}${q}`)).status, q).toBe(200)
    }
    expect((await get(`/admin/scheduled_jobs/${mixed}?limit=1`)).json.data.last_executions).toHaveLength(1)
    expect((await get(`/admin/scheduled_jobs/${mixed}?filter=state`)).json.data).toEqual({ job: String(mixed), state: 'scheduled', next_execution: expect.stringMatching(PULZAR_TIME) })
    const f = await detailWhen(failing, d => d.last_executions.length >= 2, 'two failed firings')
    expect(new Set(f.last_executions.map((e: Exec) => e.state))).toEqual(new Set(['failed']))
    expect(f.last_executions[f.last_executions.length - 1].output).toBeNull()
  })

  it('admin/scheduled_jobs/ok|failed: executions of the schedules not cancelled, with limit; a cancelled schedule is never listed as scheduled', async () => {
    await detailWhen(failing, d => d.last_executions.length >= 2, 'two failed firings')
    const okList = (await get('/admin/scheduled_jobs/ok')).json.data as Exec[]
    expect(okList.length).toBeGreaterThan(0)
    expect(new Set(okList.map(e => e.job_id))).toEqual(new Set([mixed]))
    expect(Object.keys(okList[0]).slice(0, OK_FIELDS.length)).toEqual(OK_FIELDS)
    expect(okList[0]).toMatchObject({ job_name: 'flaky', interval: 'seconds', time_unit: 1, output: 'fine', state: 'ok' })
    const failed = (await get('/admin/scheduled_jobs/failed')).json.data as Exec[]
    expect(new Set(failed.map(e => e.job_id))).toEqual(new Set([mixed, failing]))
    expect(failed.every(e => e.state === 'failed')).toBe(true)
    for (const q of ['?limit=1', '?limit=1&filter=state', '?filter=state&limit=1']) {
      expect((await get(`/admin/scheduled_jobs/failed${q}`)).json.data, q).toHaveLength(1)
    }
    const own = (await get(`/admin/scheduled_jobs/failed/${failing}`)).json.data as Exec[]
    expect(own.length).toBeGreaterThan(0)
    expect(own.every(e => e.job_id === failing)).toBe(true)

    // admin/jobs lists the live schedules under `scheduled`, in admin/scheduled_jobs's shape.
    const live = (await get('/admin/jobs')).json.data.scheduled as any[]
    expect(live.map(s => s.job_id)).toEqual([cron, pulzar, failing, mixed])
    expect(Object.keys(live[0]).slice(0, LIST_FIELDS.length)).toEqual(LIST_FIELDS)
    expect((await get('/admin/jobs?limit=1')).json.data.scheduled).toHaveLength(1)
    expect((await get('/admin/jobs/ok')).json.data.scheduled).toEqual([])

    const cancel = await http('POST', `${a.url}/cancel_job/${failing}`)
    expect(cancel.json).toMatchObject({ status: 'ok', msg: `Job canceled with id ${failing}` })
    const notListed = async (): Promise<void> => {
      const all = (await get('/admin/scheduled_jobs')).json.data as any[]
      expect(all.find(s => s.job_id === failing)).toMatchObject({ state: 'canceled', next_execution: null, cancel_time: expect.stringMatching(PULZAR_TIME) })
      expect((await get('/admin/scheduled_jobs?state=scheduled')).json.data.map((s: any) => s.job_id)).not.toContain(failing)
      expect((await get('/admin/jobs')).json.data.scheduled.map((s: any) => s.job_id)).not.toContain(failing)
      expect(((await get('/admin/scheduled_jobs/failed')).json.data as Exec[]).map(e => e.job_id)).not.toContain(failing)
      // Pulzar crashed on a cancelled schedule's detail; pmz shows it.
      expect((await get(`/admin/scheduled_jobs/${failing}`)).json.data).toMatchObject({ state: 'canceled', next_execution: null })
    }
    await notListed()
    // Still so after the other schedule fired twice more.
    const fired = (await get(`/admin/scheduled_jobs/${mixed}`)).json.data.fired as number
    await detailWhen(mixed, d => d.fired >= fired + 2, 'two more firings of another schedule')
    await notListed()
    expect((await get('/admin/scheduled_jobs?state=canceled')).json.data.map((s: any) => s.job_id)).toEqual([failing])
    expect(((await get('/admin/scheduled_jobs/failed?state=canceled')).json.data as Exec[]).every(e => e.job_id === failing)).toBe(true)
  })

  it('pmz job launch --every / --cron prints the schedule id; pmz jobs --state scheduled lists schedules; pmz job cancel stops one', async () => {
    const gw = ['--gateway', a.url]
    const every = await runCli(['job', 'launch', 'views/flaky', '--every', '2 hours', '--args', '{"n":1}', ...gw])
    expect(every.code, every.stderr).toBe(0)
    expect(every.stdout.toString()).toMatch(/^\d+\n$/)
    const everyId = Number(every.stdout.toString())
    expect((await get(`/admin/scheduled_jobs/${everyId}`)).json.data).toMatchObject({ every: '2 hours', interval: 'hours', time_unit: 2, parameters: '{"n":1}' })
    const cronRun = await runCli(['job', 'launch', 'views/flaky', '--cron', '*/5 * * * *', '--tz', 'America/New_York', '--catch-up', 'all', '--overlap', 'queue', ...gw])
    expect(cronRun.code, cronRun.stderr).toBe(0)
    const cronId = Number(cronRun.stdout.toString())
    expect((await get(`/admin/scheduled_jobs/${cronId}`)).json.data).toMatchObject({ cron: '*/5 * * * *', tz: 'America/New_York', catch_up: 'all', overlap: 'queue' })

    const table = await runCli(['jobs', '--state', 'scheduled', ...gw])
    expect(table.code, table.stderr).toBe(0)
    const lines = table.stdout.toString().trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID\s+STATE\s+SEED\s+WHEN\s+NEXT \(UTC\)\s+FIRED\s+SKIPPED\s+CREATED$/)
    expect(lines[1]).toMatch(new RegExp(`^${cronId}\\s+scheduled\\s+views/flaky\\s+cron \\*/5 \\* \\* \\* \\* America/New_York\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d[05]:00\\s+0\\s+0\\s+\\d{4}-`))
    expect(lines[2]).toMatch(new RegExp(`^${everyId}\\s+scheduled\\s+views/flaky\\s+every 2 hours\\s+\\d{4}-`))
    expect(lines.some(l => l.startsWith(`${mixed} `))).toBe(true)

    const cancelled = await runCli(['job', 'cancel', String(everyId), ...gw])
    expect(cancelled.code, cancelled.stderr).toBe(0)
    expect(cancelled.stdout.toString()).toBe(`Job canceled with id ${everyId}\n`)
    const after = await runCli(['jobs', '--state', 'scheduled', '--json', ...gw])
    expect((JSON.parse(after.stdout.toString()) as any[]).map(s => s.job_id)).not.toContain(everyId)
    const gone = await runCli(['jobs', '--state', 'canceled', ...gw])
    expect(gone.stdout.toString()).toMatch(new RegExp(`^${everyId}\\s+canceled\\s`, 'm'))

    // One line per mistake, exit 1.
    const refused: Array<[string[], RegExp]> = [
      [['job', 'launch', 'views/flaky', '--every', 'sometimes'], /^pmz: every must be .*\(HTTP 400\)\n$/],
      [['job', 'launch', 'views/flaky', '--every', '1 minute', '--cron', '* * * * *'], /^pmz: give --every or --cron, not both\n$/],
      [['job', 'launch', 'views/flaky', '--tz', 'Europe/Madrid'], /^pmz: --tz needs --every or --cron\n$/],
      [['job', 'launch', 'views/flaky', '--every', '1 minute', '--wait'], /^pmz: --wait follows one job; .*\n$/],
      [['job', 'launch', 'views/flaky', '--cron', '* * * * *', '--tz', 'Mars/Olympus'], /^pmz: unknown time zone .*\(HTTP 400\)\n$/],
      [['job', 'launch', 'views/nope', '--every', '1 minute'], /^pmz: .*\(HTTP 404\)\n$/],
      [['jobs', '--state', 'scheduled,running'], /^pmz: --state: schedule states .* cannot be mixed\n$/]
    ]
    for (const [args, stderr] of refused) {
      const r = await runCli([...args, ...gw])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr, args.join(' ')).toMatch(stderr)
    }
  })

  it('refuses a launch body whose scheduled is bad, in Pulzar\'s words', async () => {
    const res = await http('POST', `${a.url}/launch_job/views/flaky`, JSON.stringify({ scheduled: { interval: 'weeks', time_unit: 5, repeat: 1 } }), JSON_HEADERS)
    expect(res.status).toBe(400)
    expect(res.json).toMatchObject({ status: 'ko', msg: 'interval not allowed for the time_unit' })
  })
})
