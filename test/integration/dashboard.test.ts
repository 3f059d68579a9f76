// The web dashboard (issue 18) in a real browser: Debian's chromium driven by
// puppeteer-core, over 3 real peers. Screenshots of each page go to
// test-artifacts/dashboard/. Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { JSON_HEADERS, catalogued } from '../helpers/jobs.js'
import { REPO, cleanupPeers, freePort, killPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const CHROMIUM = process.env.PUPPETEER_EXECUTABLE_PATH ?? '/usr/bin/chromium'
const HAS_CHROMIUM = existsSync(CHROMIUM)
if (!HAS_CHROMIUM) console.log(`dashboard browser tests skipped: no chromium at ${CHROMIUM} (install Debian's chromium or set PUPPETEER_EXECUTABLE_PATH)`)
const SHOTS = join(REPO, 'test-artifacts/dashboard')
const TOKEN = `t-${randomUUID()}`

// Reports n steps of progress, 200 ms apart, and logs each.
const STEPS = 'const pause = ms => new Promise(resolve => setTimeout(resolve, ms))\n' +
  'export const meta = { description: "counts to n", args: { n: "steps" } }\n' +
  'export default async (args, ctx) => {\n' +
  '  const n = args.n ?? 12\n' +
  '  for (let i = 1; i <= n; i++) { ctx.log.info(`step ${i}`); ctx.progress(i / n, `step ${i}`); await pause(200) }\n' +
  '  return "counted"\n}\n'

describe.skipIf(!HAS_CHROMIUM)('the dashboard in chromium, over 3 real peers (issue 18)', () => {
  let peers: Peer[]
  let locked: Peer
  let browser: Browser
  let page: Page
  const errors: string[] = []

  beforeAll(async () => {
    const seeds = tempDir('pmz-dash-seeds-')
    mkdirSync(join(seeds, 'demo'))
    writeFileSync(join(seeds, 'demo/steps.mjs'), STEPS)
    mkdirSync(SHOTS, { recursive: true })
    const cluster = `dash-${randomUUID().slice(0, 8)}`
    const args = ['--seeds', seeds]
    const launching = puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
    // A lone peer with a bearer token, for the page's token prompt.
    const guarded = startPeer({ env: { PMZ_TOKEN: TOKEN } })
    // All at once: the first on a known mesh port, the others joining it.
    const port = await freePort()
    peers = await Promise.all([0, 1, 2].map(async i => await startPeer({ cluster, args: [...args, ...i === 0 ? ['--mesh-port', String(port)] : ['--join', `127.0.0.1:${port}`]] })))
    locked = await guarded
    browser = await launching
    page = await browser.newPage()
    await page.setViewport({ width: 1280, height: 900 })
    page.on('console', m => { if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url ?? ''})`) })
    page.on('pageerror', e => { errors.push(`page: ${(e as Error).message}`) })
    await converged(peers, peers.map(p => p.id), 15_000)
    await page.goto(`${peers[0].url}/`, { waitUntil: 'load' })
  }, 30_000)

  afterAll(async () => {
    await browser?.close()
    await cleanupPeers()
  })

  const shot = async (name: string): Promise<void> => { await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }) }
  const tab = async (name: string): Promise<void> => {
    await page.click(`#tab-${name}`)
    await page.waitForSelector(`#tab-${name}.active`)
  }

  it('loads with no console error and shows the 3 peers alive, the coordinator and the ring', async () => {
    await page.waitForFunction('document.querySelectorAll(\'#peers tr[data-state="alive"]\').length === 3', { timeout: 10_000 })
    const rows = await page.$$eval('#peers tbody tr', trs => trs.map(tr => tr.getAttribute('data-peer')))
    expect(rows.sort()).toEqual(peers.map(p => p.id).sort())
    expect(await page.$eval('#peers', t => t.textContent)).toContain('★')
    await page.waitForFunction('document.querySelectorAll(\'#ring circle\').length === 3', { timeout: 5_000 })
    // Live from the event stream, not polling.
    await page.waitForSelector('#conn.conn-live', { timeout: 5_000 })
    await shot('cluster')
    expect(errors).toEqual([])
  })

  it('uploads a file through the page; it appears in the key list and reads back', async () => {
    await tab('keys')
    const name = `dash-${randomUUID().slice(0, 8)}.txt`
    const file = join(tempDir('pmz-dash-up-'), name)
    writeFileSync(file, 'uploaded through the dashboard\n')
    const input = await page.waitForSelector('#upload-file')
    await input!.uploadFile(file)
    await page.waitForFunction(`document.querySelector('#upload-key').value === '/${name}'`)
    await page.click('#upload-send')
    await page.waitForSelector(`#keys tr[data-key="/${name}"]`, { timeout: 10_000 })
    const res = await http('GET', `${peers[2].url}/get_key/${name}`)
    expect(res.body.toString()).toBe('uploaded through the dashboard\n')
    // A key written through another peer shows without a reload (the keys topic of the event stream).
    expect((await http('PUT', `${peers[1].url}/add_key/${name}.copy`, 'elsewhere')).status).toBe(201)
    await page.waitForSelector(`#keys tr[data-key="/${name}.copy"]`, { timeout: 5_000 })
    await shot('keys')
    expect(errors).toEqual([])
  })

  it('launches a job from the catalog; its progress moves and its log tail shows', async () => {
    await catalogued(peers[0], 'demo/steps')
    await tab('jobs')
    const launch = await page.waitForSelector('#catalog tr[data-seed="demo/steps"] button', { timeout: 5_000 })
    await launch!.click()
    const args = await page.waitForSelector('form.launch textarea')
    await args!.evaluate(t => { (t as unknown as { value: string }).value = '{"n": 8}' })
    await page.click('form.launch button[type="submit"]')
    const row = await page.waitForSelector('#running tr[data-job] progress', { timeout: 10_000 })
    const progress = async (): Promise<number> => await row!.evaluate(p => (p as unknown as { value: number }).value)
    await page.waitForFunction(p => (p as unknown as { value: number }).value > 0, { timeout: 10_000 }, row)
    const first = await progress()
    await page.waitForFunction((p, v) => (p as unknown as { value: number }).value > v, { timeout: 10_000 }, row, first)
    await page.waitForFunction('/step \\d+/.test(document.querySelector(\'#job-log\')?.textContent ?? \'\')', { timeout: 10_000 })
    await shot('jobs')
    await page.waitForSelector('#job-detail .state-ready', { timeout: 10_000 })
    expect(await page.$eval('#job-detail', d => d.textContent)).toContain('counted')
    expect(errors).toEqual([])
  })

  it('shows a schedule with its next firing, and a batch with its progress', async () => {
    const launched = await http('POST', `${peers[1].url}/launch_job/demo/steps`, JSON.stringify({ n: 1, scheduled: { every: '1 hour' } }), JSON_HEADERS)
    const scheduleId = launched.json?.data.job_id as number
    await tab('schedules')
    const row = await page.waitForSelector(`#schedules tr[data-schedule="${scheduleId}"]`, { timeout: 5_000 })
    expect(await row!.evaluate(tr => tr.textContent)).toMatch(/every 1 hour.*in (59 min|60 min|1 h)/)
    await shot('schedules')
    await tab('flows')
    const batch = await http('POST', `${peers[0].url}/launch_batch/demo/steps`, JSON.stringify({ prefix: '/dash-', args: { n: 1 } }), JSON_HEADERS)
    expect(batch.status, batch.body.toString()).toBe(200)
    const batchId = batch.json?.data.batch_id as number
    await page.waitForSelector(`#batches tr[data-batch="${batchId}"] .state-done`, { timeout: 10_000 })
    await page.waitForSelector('#pipelines')
    await shot('flows')
    expect(errors).toEqual([])
  })

  it('on a peer with a token: asks for it at the first 401, keeps it in the tab, then shows the cluster', async () => {
    const guarded = await browser.newPage()
    const seen: string[] = []
    guarded.on('console', m => { if (m.type() === 'error') seen.push(m.text()) })
    guarded.on('pageerror', e => { seen.push(`page: ${(e as Error).message}`) })
    try {
      await guarded.goto(`${locked.url}/#/keys`, { waitUntil: 'load' })
      await guarded.waitForSelector('#token-form', { timeout: 10_000 })
      await guarded.type('#token-input', TOKEN)
      await guarded.click('#token-form button[type="submit"]')
      // The listing refused without the token is read again with it.
      await guarded.waitForSelector('#keys-empty', { timeout: 5_000 })
      await guarded.click('#tab-cluster')
      await guarded.waitForSelector(`#peers tr[data-peer="${locked.id}"][data-state="alive"]`, { timeout: 10_000 })
      // The event stream, which needs the token too, is read once it is known.
      await guarded.waitForSelector('#conn.conn-live', { timeout: 10_000 })
      expect(await guarded.evaluate('sessionStorage.getItem("pmz.token")')).toBe(TOKEN)
      await guarded.screenshot({ path: join(SHOTS, 'token.png') })
      // The only errors: the browser's lines for the answers of 401 before the token was given.
      expect(seen.filter(t => !t.includes('401'))).toEqual([])
    } finally {
      await guarded.close()
    }
  })

  it('shows a peer killed with SIGKILL as dead within seconds', async () => {
    await tab('cluster')
    const victim = peers[2]
    await killPeer(victim)
    const t0 = Date.now()
    await page.waitForSelector(`#peers tr[data-peer="${victim.id}"][data-state="dead"]`, { timeout: 10_000 })
    console.log(`dashboard: ${victim.id} shown dead ${Date.now() - t0} ms after SIGKILL`)
    await shot('cluster-dead')
    expect(errors).toEqual([])
  })
})
