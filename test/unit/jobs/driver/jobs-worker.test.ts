import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../../src/common/logger.js'
import { JobsWorker, type AssignMessage, type JobCommand, type JobRunner } from '../../../../src/jobs/index.js'
import type { Seed } from '../../../../src/seeds/index.js'
import { codeOf } from '../../../helpers/errors.js'
import { ManualClock } from '../../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })
const SEED = { name: 'demo/hello', path: '/x/demo/hello.mjs', kind: 'module', hash: 'h1', size: 1, mtimeMs: 0 } as Seed

function harness (opts: { holdStarted?: boolean } = {}) {
  const reports: JobCommand[] = []
  const proposals: JobCommand[] = []
  const signals: AbortSignal[] = []
  let finish: (() => void) | undefined
  let beat: (() => void) | undefined
  const clock = new ManualClock()
  const runner: JobRunner = {
    async run (spec, events, options) {
      beat = () => events.onHeartbeat()
      signals.push(options!.signal!)
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
        if (c.type === 'batch') {
          reports.push(...c.commands)
          return { result: c.commands.map(() => ({ ok: true as const, changed: true })) }
        }
        reports.push(c)
        if (opts.holdStarted === true && c.type === 'started') await new Promise(() => {})
        return { result: { ok: true, changed: true } }
      }
    },
    local: { get: name => name === SEED.name ? SEED : undefined },
    runner, mesh: { handle: () => () => {} }, clock, log, peerId: 'w1'
  })
  // Reports are proposed at the end of an event-loop turn (CommandBatcher): a few turns and their microtasks.
  const settle = async (): Promise<void> => {
    for (let t = 0; t < 4; t++) {
      for (let i = 0; i < 20; i++) await Promise.resolve()
      await new Promise(resolve => setImmediate(resolve))
    }
  }
  return { worker, reports, proposals, signals, clock, beat: () => beat?.(), finish: () => finish?.(), settle }
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

  it('starts the attempt without waiting for its start to be committed', async () => {
    const h = harness({ holdStarted: true })
    h.worker.assign(assign())
    await h.settle()
    expect(h.signals).toHaveLength(1)
    h.finish()
    await h.settle()
    expect(h.reports.map(r => r.type)).toEqual(['started', 'progress', 'finished'])
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
    expect(h.proposals).toHaveLength(1)
    const commands = (h.proposals[0] as { commands: JobCommand[] }).commands
    expect(commands).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'started', jobId: 1 }), expect.objectContaining({ type: 'started', jobId: 2 })]))
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
})
