// A seed's declared limits (DESIGN.md "Seeds": concurrency, timeoutMs,
// retries) and a launch's own `timeout_ms` / `retries` (issue 14), on a real
// peer. Needs `npm run build` (bin/pmz runs dist/).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { JSON_HEADERS, launch, settled } from '../helpers/jobs.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const NAP = 'const nap = ms => new Promise(resolve => setTimeout(resolve, ms))\n'

describe('seed and launch limits (issue 14)', () => {
  let a: Peer

  beforeAll(async () => {
    const seeds = tempDir('pmz-limits-seeds-')
    mkdirSync(join(seeds, 'lim'))
    writeFileSync(join(seeds, 'lim/slow.mjs'), `${NAP}export const timeoutMs = 300\nexport default async () => { await nap(20_000); return 'late' }\n`)
    writeFileSync(join(seeds, 'lim/flaky.mjs'), 'export const retries = 1\nexport default () => { throw new Error("flaky") }\n')
    writeFileSync(join(seeds, 'lim/one.mjs'), `${NAP}export const concurrency = 1\nexport default async () => { const start = Date.now(); await nap(300); return [start, Date.now()] }\n`)
    writeFileSync(join(seeds, 'lim/bad.mjs'), 'export const concurrency = 0\nexport default () => 1\n')
    a = await startPeer({ args: ['--seeds', seeds, '--job-slots', '4'] })
    await waitFor(async () => {
      const res = await http('GET', `${a.url}/admin/job_catalog`)
      return (res.json?.data as Array<{ path: string }> | undefined)?.length === 4
    }, 15_000, 'the seeds in the catalog')
  }, 30_000)

  afterAll(cleanupPeers)

  it('lists a seed\'s limits in the catalog; out-of-range limits make it unlaunchable with the reason', async () => {
    const rows = (await http('GET', `${a.url}/admin/job_catalog`)).json?.data as Array<{ path: string, limits: unknown, launchable: boolean, error: string | null }>
    expect(rows.find(r => r.path === 'lim/one')?.limits).toEqual({ concurrency: 1 })
    expect(rows.find(r => r.path === 'lim/bad')).toMatchObject({ launchable: false, error: 'bad limits: concurrency must be an integer from 1 to 1000000' })
    const res = await http('POST', `${a.url}/launch_job/lim/bad`, '{}', JSON_HEADERS)
    expect(res.status).toBe(400)
    expect(res.json).toMatchObject({ status: 'ko', msg: expect.stringContaining('concurrency must be') })
  })

  it('fails an attempt past the seed\'s timeoutMs; a launch\'s timeout_ms overrides it', async () => {
    const slow = await settled(a, await launch(a, 'lim/slow'))
    expect(slow).toMatchObject({ state: 'failed', error: 'timed out after 300 ms' })
    const slower = await settled(a, await launch(a, 'lim/slow', { timeout_ms: 600 }))
    expect(slower).toMatchObject({ state: 'failed', error: 'timed out after 600 ms' })
  })

  it('re-runs a failed attempt as many times as the seed\'s retries say; a launch may ask for none', async () => {
    const flaky = await settled(a, await launch(a, 'lim/flaky'))
    expect(flaky.state).toBe('failed')
    expect(flaky.attempts.map(t => t.outcome)).toEqual(['failed', 'failed'])
    const once = await settled(a, await launch(a, 'lim/flaky', { retries: 0 }))
    expect(once.attempts).toHaveLength(1)
  })

  it('never runs more attempts of a seed at once than its concurrency, though slots are free', async () => {
    const ids = await Promise.all([1, 2, 3].map(async () => await launch(a, 'lim/one')))
    const spans = (await Promise.all(ids.map(async id => await settled(a, id)))).map(d => d.output as [number, number]).sort((x, y) => x[0] - y[0])
    for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1])
  })

  it('refuses limits out of range with 400 and launches nothing', async () => {
    const before = (await http('GET', `${a.url}/admin/jobs`)).json?.data as Record<string, unknown[]>
    const count = (d: Record<string, unknown[]>): number => d.pendings.length + d.ready.length + d.failed.length
    for (const body of [{ timeout_ms: 0 }, { timeout_ms: 'x' }, { retries: -1 }, { retries: 101 }]) {
      const res = await http('POST', `${a.url}/launch_job/lim/one`, JSON.stringify(body), JSON_HEADERS)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(res.json?.status).toBe('ko')
    }
    const after = (await http('GET', `${a.url}/admin/jobs`)).json?.data as Record<string, unknown[]>
    expect(count(after)).toBe(count(before))
  })
})
