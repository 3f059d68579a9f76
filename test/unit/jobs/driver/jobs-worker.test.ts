import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { notFound } from '../../../../src/common/errors.js'
import { JobsWorker, type AssignMessage, type AttemptSpec, type JobCommand, type JobData, type JobResult, type JobRunner } from '../../../../src/jobs/index.js'
import type { Seed } from '../../../../src/seeds/index.js'
import { PmzError } from '../../../../src/common/errors.js'
import { codeOf } from '../../../helpers/errors.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })
const SEED = { name: 'demo/hello', path: '/x/demo/hello.mjs', kind: 'module', hash: 'h1', size: 1, mtimeMs: 0 } as Seed

/** What the table answers a report: by default, the attempt is the live one and runs. */
type Answer = (c: JobCommand) => JobResult
const live: Answer = c => ({ ok: true, changed: true, state: 'running', attempt: (c as { attempt?: number }).attempt })

function harness (answer: Answer = live, data?: JobData, slots?: number) {
  const reports: JobCommand[] = []
  const proposals: JobCommand[] = []
  const signals: AbortSignal[] = []
  const specs: AttemptSpec[] = []
  const clock = new ManualClock()
  let finish: (() => void) | undefined
  let beat: (() => void) | undefined
  const runner: JobRunner = {
    async run (spec, events, options) {
      beat = () => events.onHeartbeat()
      signals.push(options!.signal!)
      specs.push(spec)
      events.onHeartbeat()
      for (const f of [0.1, 0.2, 0.3]) events.onProgress(f)
      await new Promise<void>(resolve => { finish = resolve; options!.signal!.addEventListener('abort', () => resolve()) })
      const cancelled = options!.signal!.aborted
      return { ok: !cancelled, state: cancelled ? 'cancelled' : 'ready', output: spec.args, log: { lines: ['l1'], truncated: false }, durationMs: 1, ...(cancelled ? { error: 'cancelled' } : {}) }
    },
    async stop () {}
  }
  const worker = new JobsWorker({
    coordinator: {
      propose: async c => {
        proposals.push(c)
        if (c.type !== 'batch') {
          reports.push(c)
          return { result: answer(c) }
        }
        reports.push(...c.commands)
        return { result: c.commands.map(x => answer(x) as Exclude<JobResult, unknown[]>) }
      }
    },
    local: { get: name => name === SEED.name ? SEED : undefined },
    runner, data, mesh: { handle: () => () => {} }, clock, log, peerId: 'w1', defer: fn => queueMicrotask(fn), ...(slots !== undefined ? { slots } : {})
  })
  const settle = async (): Promise<void> => { for (let i = 0; i < 30; i++) await Promise.resolve() }
  return { worker, reports, proposals, signals, specs, clock, finish: () => finish?.(), beat: () => beat?.(), settle }
}

const assign = (p: Partial<AssignMessage> = {}): AssignMessage =>
  ({ type: 'jobs.assign', v: 1, term: 5, jobId: 1, attempt: 1, seed: 'demo/hello', seedHash: 'h1', args: { a: 1 }, ...p })

describe('JobsWorker', () => {
  it('runs an assignment and reports started, progress and finished (no heartbeat right after the start)', async () => {
    const h = harness()
    expect(h.worker.assign(assign())).toMatchObject({ ok: true })
    await h.settle()
    h.finish()
    await h.settle()
    // Progress is committed sparingly: three calls within 500 ms make one report.
    expect(h.reports.map(r => r.type)).toEqual(['started', 'progress', 'finished'])
    expect(h.reports[1]).toMatchObject({ fraction: 0.1 })
    expect(h.reports[2]).toMatchObject({ jobId: 1, attempt: 1, ok: true, output: { a: 1 }, log: 'l1' })
  })

  it('holds an attempt assigned beyond its slots until one frees (heard from meanwhile); its start shares an entry with the outcome before it', async () => {
    const h = harness(live, undefined, 1)
    h.worker.assign(assign({ jobId: 1 }))
    h.worker.assign(assign({ jobId: 2 }))
    h.worker.assign(assign({ jobId: 3 }))
    await h.settle()
    expect(h.reports.filter(r => r.type === 'started').map(r => (r as { jobId: number }).jobId)).toEqual([1])
    h.clock.advance(5000)
    await h.settle()
    expect(h.reports.filter(r => r.type === 'heartbeat').map(r => (r as { jobId: number }).jobId).sort()).toEqual([2, 3])
    // Job 3 is cancelled while it waits: it ends without starting.
    h.worker.cancel({ type: 'jobs.cancel', v: 1, term: 5, jobId: 3, attempt: 1 })
    await h.settle()
    expect(h.reports.find(r => r.type === 'finished' && (r as { jobId: number }).jobId === 3)).toMatchObject({ ok: false, error: 'cancelled' })
    h.proposals.length = 0
    h.finish()
    await h.settle()
    const together = h.proposals.find(p => p.type === 'batch') as { commands: JobCommand[] } | undefined
    expect(together?.commands.map(c => `${c.type}:${(c as { jobId: number }).jobId}`)).toEqual(expect.arrayContaining(['finished:1', 'started:2']))
    expect(h.specs.map(s => s.jobId)).toEqual([1, 2])
  })

  it('commits a heartbeat a second or more after the attempt\'s last report', async () => {
    const h = harness()
    h.worker.assign(assign())
    await h.settle()
    h.clock.advance(400)
    h.beat()
    h.clock.advance(1000)
    h.beat()
    await h.settle()
    expect(h.reports.filter(r => r.type === 'heartbeat')).toEqual([expect.objectContaining({ at: Date.UTC(2026, 0, 1) + 1400 })])
  })

  it('proposes the reports of several attempts made in one turn as one batch', async () => {
    const h = harness()
    h.worker.assign(assign({ jobId: 1 }))
    h.worker.assign(assign({ jobId: 2 }))
    await h.settle()
    expect(h.proposals[0]).toMatchObject({ type: 'batch' })
    const commands = (h.proposals[0] as { commands: JobCommand[] }).commands
    expect(commands).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'started', jobId: 1 }), expect.objectContaining({ type: 'started', jobId: 2 })]))
  })

  it('gives the runner the schedule and tick of a fired job (ctx.schedule), and refuses a malformed one', async () => {
    const h = harness()
    h.worker.assign(assign({ scheduleId: 7, firedAt: 1_767_225_600_000 }))
    h.worker.assign(assign({ jobId: 2 }))
    await h.settle()
    expect(h.specs[0]).toMatchObject({ jobId: 1, scheduled: true, schedule: { scheduleId: 7, firedAt: 1_767_225_600_000 } })
    expect(h.specs[1]).not.toHaveProperty('schedule')
    expect(await codeOf(Promise.resolve().then(() => h.worker.assign(assign({ jobId: 3, scheduleId: 7 }))))).toBe('ERR_BAD_REQUEST')
  })

  it('draws the backoff of a failed attempt that has retries left', async () => {
    const h = harness()
    h.worker.assign(assign({ failures: 1, retries: 3 }))
    await h.settle()
    h.worker.cancel({ type: 'jobs.cancel', v: 1, term: 5, jobId: 1, attempt: 1 })
    await h.settle()
    const fin = h.reports.at(-1) as { retryAt?: number }
    expect(fin.retryAt).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1))
    expect(fin.retryAt).toBeLessThan(Date.UTC(2026, 0, 1) + 2000)
  })

  it('refuses an assignment from a stale term', async () => {
    const h = harness()
    h.worker.assign(assign({ term: 5 }))
    expect(await codeOf(Promise.resolve().then(() => h.worker.assign(assign({ term: 4, jobId: 2 }))))).toBe('ERR_STALE_TERM')
  })

  it('fails an attempt whose seed is not here at that hash', async () => {
    const h = harness()
    h.worker.assign(assign({ seedHash: 'other' }))
    await h.settle()
    expect(h.reports).toEqual([expect.objectContaining({ type: 'finished', ok: false, error: 'seed demo/hello changed on w1' })])
  })

  it('aborts a running attempt on jobs.cancel', async () => {
    const h = harness()
    h.worker.assign(assign())
    await h.settle()
    expect(h.worker.cancel({ type: 'jobs.cancel', v: 1, term: 5, jobId: 1, attempt: 1 }).cancelled).toBe(true)
    await h.settle()
    expect(h.signals[0].aborted).toBe(true)
    expect(h.reports.at(-1)).toMatchObject({ type: 'finished', ok: false, error: 'cancelled' })
  })
  it('does not run an attempt re-queued before its start committed; the table answered started with another attempt', async () => {
    const h = harness(c => c.type === 'started' ? { ok: true, changed: false, state: 'assigned', attempt: 2 } : live(c))
    h.worker.assign(assign())
    await h.settle()
    expect(h.signals).toHaveLength(0)
    expect(h.reports.map(r => r.type)).toEqual(['started'])
    expect(h.worker.size).toBe(0)
  })

  it('does not run an attempt whose start did not commit (no coordinator)', async () => {
    const clock = new ManualClock()
    const runs: string[] = []
    const worker = new JobsWorker({
      coordinator: { propose: async () => { throw new PmzError('ERR_NO_COORDINATOR', 'none') } },
      local: { get: () => SEED },
      runner: { async run () { runs.push('ran'); return { ok: true, state: 'ready', output: null, log: { lines: [], truncated: false }, durationMs: 0 } }, async stop () {} },
      mesh: { handle: () => () => {} }, clock, log, peerId: 'w1'
    })
    worker.assign(assign())
    for (let i = 0; i < 10; i++) await clock.advanceAsync(5_000)
    expect(runs).toEqual([])
    expect(worker.size).toBe(0)
  })

  it('reports a cancel that came before the start without running the attempt', async () => {
    const h = harness(c => c.type === 'started' ? { ok: true, changed: true, state: 'cancelling', attempt: 1 } : live(c))
    h.worker.assign(assign())
    await h.settle()
    expect(h.signals).toHaveLength(0)
    expect(h.reports.at(-1)).toMatchObject({ type: 'finished', ok: false, error: 'cancelled' })
  })

  it('does not run an attempt again when its assignment comes again after it ended', async () => {
    const h = harness()
    h.worker.assign(assign())
    await h.settle()
    h.finish()
    await h.settle()
    h.worker.assign(assign())
    await h.settle()
    expect(h.signals).toHaveLength(1)
    expect(h.reports.filter(r => r.type === 'started')).toHaveLength(1)
  })

  it('gives the attempt its pulzar_data file, removes it afterwards, and stores a big output under a key', async () => {
    const calls: string[] = []
    const data: JobData = {
      async open (key, a) {
        calls.push(`open ${key} ${a.jobId}/${a.attempt}`)
        return { path: '/tmp/job-data/1-1/x.bin', release: async () => { calls.push('release') } }
      },
      async keepOutput (output, a) {
        calls.push(`keep ${a.jobId}/${a.attempt}`)
        return { output: null, outputKey: `/_jobs/${a.jobId}/${a.attempt}/output` }
      }
    }
    const h = harness(live, data)
    h.worker.assign(assign({ dataKey: '/d/x.bin' }))
    await h.settle()
    expect(h.specs[0].dataFile).toBe('/tmp/job-data/1-1/x.bin')
    expect(calls).toEqual(['open /d/x.bin 1/1'])
    h.finish()
    await h.settle()
    expect(calls).toEqual(['open /d/x.bin 1/1', 'release', 'keep 1/1'])
    expect(h.reports.at(-1)).toMatchObject({ type: 'finished', ok: true, output: null, outputKey: '/_jobs/1/1/output' })
  })

  it('fails an attempt whose data key has no value, for good; a fetch that failed may be retried', async () => {
    const data = (err: Error): JobData => ({ open: async () => { throw err }, keepOutput: async output => ({ output }) })
    const gone = harness(live, data(notFound('key not found')))
    gone.worker.assign(assign({ dataKey: '/d/x.bin', failures: 0, retries: 2 }))
    await gone.settle()
    expect(gone.specs).toHaveLength(0)
    expect(gone.reports.map(r => r.type)).toEqual(['started', 'finished'])
    expect(gone.reports[1]).toMatchObject({ ok: false, retryable: false, error: 'pulzar_data /d/x.bin: key not found' })
    expect(gone.reports[1]).not.toHaveProperty('retryAt')
    const flaky = harness(live, data(new Error('replica unreachable')))
    flaky.worker.assign(assign({ dataKey: '/d/x.bin', failures: 0, retries: 2 }))
    await flaky.settle()
    expect(flaky.reports[1]).toMatchObject({ ok: false, retryable: true, error: 'pulzar_data /d/x.bin: replica unreachable' })
    expect(flaky.reports[1]).toHaveProperty('retryAt')
  })

  it('fails an attempt whose big output could not be stored', async () => {
    const h = harness(live, { open: async () => { throw new Error('unused') }, keepOutput: async () => { throw new Error('quorum not met') } })
    h.worker.assign(assign())
    await h.settle()
    h.finish()
    await h.settle()
    expect(h.reports.at(-1)).toMatchObject({ type: 'finished', ok: false, output: null, error: 'the output could not be stored: quorum not met' })
  })
})

describe('JobsWorker log relay', () => {
  it('relays log lines on its reports at most every 500 ms, and the last ones before the outcome', async () => {
    const clock = new ManualClock()
    const reports: JobCommand[] = []
    let events: Parameters<JobRunner['run']>[1] | undefined
    let finish: (() => void) | undefined
    const runner: JobRunner = {
      async run (_spec, e) {
        events = e
        await new Promise<void>(resolve => { finish = resolve })
        return { ok: true, state: 'ready', output: 1, log: { lines: [], truncated: false }, durationMs: 1 }
      },
      async stop () {}
    }
    const worker = new JobsWorker({
      coordinator: { propose: async c => { reports.push(c); return { result: live(c) } } },
      local: { get: () => SEED }, runner, mesh: { handle: () => () => {} }, clock, log, peerId: 'w1'
    })
    worker.assign(assign())
    await clock.advanceAsync(0)
    events!.onLog('one', 'info')
    events!.onLog('two', 'info')
    await clock.advanceAsync(0)
    // The first flush goes at once (nothing was relayed before), as a heartbeat.
    expect(reports.filter(r => r.type === 'heartbeat').map(r => (r as { lines?: string[] }).lines)).toEqual([['one', 'two']])
    events!.onLog('three', 'info')
    events!.onProgress(0.5, 'half')
    await clock.advanceAsync(0) // reports of one turn are proposed together at its end
    // A progress report carries what is pending and the timer has nothing left to send.
    expect(reports.at(-1)).toMatchObject({ type: 'progress', fraction: 0.5, lines: ['three'] })
    events!.onLog('four', 'info')
    await clock.advanceAsync(499)
    expect(reports.some(r => JSON.stringify(r).includes('four'))).toBe(false)
    await clock.advanceAsync(1)
    expect(reports.at(-1)).toMatchObject({ type: 'heartbeat', lines: ['four'] })
    events!.onLog('five', 'info')
    finish!()
    for (let i = 0; i < 5 && reports.at(-1)?.type !== 'finished'; i++) await clock.advanceAsync(0)
    expect(reports.slice(-2)).toMatchObject([{ type: 'heartbeat', lines: ['five'] }, { type: 'finished', ok: true }])
  })
})
