import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createGateway, type Gateway, type JobsView } from '../../../src/http/index.js'
import type { Job, JobChange } from '../../../src/jobs/index.js'
import { createStore, type Store } from '../../../src/store/index.js'
import { noExtensions, stubCoordinator } from '../../helpers/gateway-stubs.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const coordinator = stubCoordinator(true)
const refused = async (): Promise<never> => { throw new Error('not in this test') }

/** A running job and a JobsView whose follow() the test drives. */
function fakeJobs (): { jobs: JobsView, job: Job, listeners: Set<(c: JobChange) => void> } {
  const job: Job = {
    jobId: 1, seed: 'demo/steps', seedHash: 'h', args: {}, priority: 5, limits: { retries: 0, maxLost: 3 }, state: 'running', seq: 1,
    createdAt: Date.UTC(2026, 0, 1), updatedAt: Date.UTC(2026, 0, 1), attempt: 1, peerId: 'w1', log: '', logTruncated: false, failures: 0, losses: 0,
    attempts: [{ attempt: 1, peerId: 'w1', term: 1, assignedAt: Date.UTC(2026, 0, 1) }]
  }
  const listeners = new Set<(c: JobChange) => void>()
  const jobs: JobsView = {
    local: true,
    launch: refused,
    schedule: refused,
    getSchedule: refused,
    schedules: refused,
    cancel: refused,
    retry: refused,
    get: async id => id === 1 ? job : undefined,
    list: async () => [job],
    follow: (_id, fn) => {
      listeners.add(fn)
      return () => { listeners.delete(fn) }
    },
    launchBatch: refused,
    getBatch: refused,
    batches: refused,
    followBatch: () => () => {}
  }
  return { jobs, job, listeners }
}

describe('GET /jobs/{id}/events', () => {
  let store: Store | undefined
  let gateway: Gateway | undefined
  afterEach(async () => {
    await gateway?.stop()
    await store?.stop()
    await cleanupPeers()
  })

  async function start (jobs: JobsView): Promise<string> {
    store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator, catalog: { list: () => [] }, jobs, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0, stopGraceMs: 1000 })
    await gateway.start()
    return gateway.url()
  }

  /** Opens the stream; resolves once its first bytes arrived, with the response paused. */
  async function open (url: string): Promise<{ res: import('node:http').IncomingMessage, first: string, close: () => void }> {
    const u = new URL(`${url}/jobs/1/events`)
    return await new Promise((resolve, reject) => {
      const req = request({ host: u.hostname, port: Number(u.port), path: u.pathname, agent: false }, res => {
        res.setEncoding('utf8')
        res.once('data', (first: string) => {
          res.pause()
          resolve({ res, first, close: () => req.destroy() })
        })
      })
      req.on('error', reject)
      req.end()
    })
  }

  it('stops following the job when the client goes away', async () => {
    const { jobs, listeners } = fakeJobs()
    const s = await open(await start(jobs))
    expect(s.first).toContain('event: state')
    expect(listeners.size).toBe(1)
    s.close()
    await expect.poll(() => listeners.size, { timeout: 5000 }).toBe(0)
  })

  it('ends its streams when the gateway stops', async () => {
    const { jobs, listeners } = fakeJobs()
    const s = await open(await start(jobs))
    const ended = new Promise<void>(resolve => s.res.on('close', resolve))
    s.res.resume()
    await gateway!.stop()
    await ended
    expect(listeners.size).toBe(0)
  })

  it('drops log lines, and says so, for a client that does not read; state and end still arrive', async () => {
    const { jobs, job, listeners } = fakeJobs()
    const s = await open(await start(jobs))
    const line = 'x'.repeat(4096)
    const sent = 3000
    for (let i = 0; i < sent; i++) for (const fn of listeners) fn({ job, lines: [line] })
    job.state = 'ready'
    job.output = 'done'
    for (const fn of listeners) fn({ job, lines: [] })
    let body = s.first
    s.res.on('data', (c: string) => { body += c })
    s.res.resume()
    await new Promise(resolve => s.res.on('end', resolve))
    const received = (body.match(/event: log\n/g) ?? []).length
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(sent)
    expect(body).toMatch(/event: dropped\ndata: \{"job_id":1,"events":\d+\}/)
    expect(body).toMatch(/event: end\ndata: \{"job":"1".*"output":"done"/)
    expect(listeners.size).toBe(0)
  })
})
