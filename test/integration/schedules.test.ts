// Schedules on a real peer (issue 15): Pulzar's and pmz's `scheduled` forms
// fire jobs, a cancel stops them at once, a seed's `schedule` export
// registers itself. Needs `npm run build` (bin/pmz runs dist/).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, catalogued, launch } from '../helpers/jobs.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

interface Row { job_id: number, job_name: string, status: string, seed?: string }

/** The jobs of `seed` in admin/all_jobs. */
async function runsOf (peer: Peer, seed: string): Promise<Row[]> {
  const res = await http('GET', `${peer.url}/admin/all_jobs`)
  return (res.json?.data as Row[]).filter(r => r.seed === seed)
}

describe('schedules on one peer (issue 15)', () => {
  let a: Peer
  let seeds: string

  beforeAll(async () => {
    seeds = tempDir('pmz-sched-seeds-')
    mkdirSync(join(seeds, 'cron'))
    writeFileSync(join(seeds, 'cron/tick.mjs'), 'export default (args) => ({ n: args.n ?? null })\n')
    writeFileSync(join(seeds, 'cron/clock.mjs'), 'export default () => "tick"\n')
    a = await startPeer({ args: ['--seeds', seeds, '--job-slots', '2'] })
    await catalogued(a, 'cron/tick')
    await catalogued(a, 'cron/clock')
    await launch(a, 'cron/clock', { scheduled: { every: '1 second' } })
  }, 30_000)

  /** Waits until the control schedule (cron/clock, every second) has fired `n` more times: a window in which any live 1-second schedule fires too. */
  async function seconds (n: number): Promise<void> {
    const from = (await runsOf(a, 'cron/clock')).length
    await waitFor(async () => (await runsOf(a, 'cron/clock')).length >= from + n, 15_000, `${n} firings of the control schedule`)
  }

  afterAll(cleanupPeers)

  it('fires {"every": "1 second"} each second; cancel stops it within a second and is idempotent', async () => {
    const id = await launch(a, 'cron/tick', { n: 1, scheduled: { every: '1 second' } })
    await waitFor(async () => (await runsOf(a, 'cron/tick')).filter(r => r.status === 'completed').length >= 3, 10_000, 'three firings')
    const cancel = await http('POST', `${a.url}/cancel_job/${id}`)
    expect(cancel.json).toMatchObject({ status: 'ok', msg: `Job canceled with id ${id}` })
    const after = (await runsOf(a, 'cron/tick')).length
    await seconds(2) // a window in which an uncancelled schedule would fire
    expect((await runsOf(a, 'cron/tick')).length).toBeLessThanOrEqual(after + 1) // one firing may have been committed with the cancel
    const steady = (await runsOf(a, 'cron/tick')).length
    await seconds(2)
    expect((await runsOf(a, 'cron/tick')).length).toBe(steady)
    expect((await http('POST', `${a.url}/cancel_job/${id}`)).json).toMatchObject({ status: 'ok' })
  })

  it('takes Pulzar\'s form and refuses bad schedules with 400, an unknown script with 404, and records nothing', async () => {
    const ok = await http('POST', `${a.url}/launch_job/cron/tick`, JSON.stringify({ scheduled: { interval: 'Hours', time_unit: '2', repeat: 1 } }), JSON_HEADERS)
    expect(ok.status).toBe(200)
    expect(ok.json?.msg).toMatch(/^Job added with id \d+$/)
    const bad = [
      [{ interval: 'minutes', time_unit: 4, repeat: 1 }, 'interval not allowed for the time_unit'],
      [{ interval: 'hours', time_unit: 24, repeat: 1 }, 'interval not allowed for the time_unit'],
      [{ interval: 'hours', time_unit: 1 }, "'repeat'"],
      [{ cron: 'nope' }, 'bad cron expression'],
      [{ cron: '* * * * *', tz: 'Mars/Olympus' }, 'unknown time zone'],
      [{ every: 'sometimes' }, 'every must be']
    ] as const
    for (const [scheduled, msg] of bad) {
      const res = await http('POST', `${a.url}/launch_job/cron/tick`, JSON.stringify({ scheduled }), JSON_HEADERS)
      expect(res.status, JSON.stringify(scheduled)).toBe(400)
      expect(res.json).toMatchObject({ status: 'ko', msg: expect.stringContaining(msg) })
    }
    expect((await http('POST', `${a.url}/launch_job/cron/missing`, JSON.stringify({ scheduled: { every: '1 minute' } }), JSON_HEADERS)).status).toBe(404)
  })

  it('registers a seed\'s schedule export when it appears, and withdraws it when the seed goes', async () => {
    writeFileSync(join(seeds, 'cron/beat.mjs'), 'export const schedule = { every: "1 second" }\nexport default () => "beat"\n')
    await waitFor(async () => (await runsOf(a, 'cron/beat')).filter(r => r.status === 'completed').length >= 2, 15_000, 'the seed\'s schedule to fire')
    const { rmSync } = await import('node:fs')
    rmSync(join(seeds, 'cron/beat.mjs'))
    await waitFor(async () => {
      const res = await http('GET', `${a.url}/admin/job_catalog`)
      return !(res.json?.data as Array<{ path: string }>).some(r => r.path === 'cron/beat')
    }, 15_000, 'the seed to leave the catalog')
    await seconds(2) // a firing decided just before the withdrawal may still land
    const settled = (await runsOf(a, 'cron/beat')).length
    await seconds(2)
    expect((await runsOf(a, 'cron/beat')).length).toBe(settled)
  })
})
