// The worker-side job runtime with real child processes (issue 14 "Execution").
// Needs `npm run build`: module seeds run in the compiled dist/jobs/exec/module-child.js.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import { createJobRunner, type AttemptEvents, type AttemptOutcome, type AttemptSpec, type JobRunner, type LogStream } from '../../src/jobs/exec/index.js'
import { codeOf } from '../helpers/errors.js'
import { memoryStore } from '../helpers/memory-store.js'

const FIXTURES = join(import.meta.dirname, '../fixtures/seeds/jobs')
const KINDS = { mjs: 'module', sh: 'executable', py: 'python' } as const
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0

interface Recorded { events: AttemptEvents, progress: Array<[number, string | undefined]>, lines: Array<[string, LogStream]>, heartbeats: number }

function recorder (): Recorded {
  const r: Recorded = {
    progress: [],
    lines: [],
    heartbeats: 0,
    events: {
      onProgress: (f, t) => r.progress.push([f, t]),
      onLog: (l, s) => r.lines.push([l, s]),
      onHeartbeat: () => { r.heartbeats++ }
    }
  }
  return r
}

let nextJob = 1
function spec (file: string, args: unknown = {}, more: Partial<AttemptSpec> = {}): AttemptSpec {
  const kind = KINDS[file.split('.').pop() as keyof typeof KINDS]
  return { jobId: nextJob++, attempt: 1, seed: { name: `jobs/${file}`, path: join(FIXTURES, file), kind, hash: 'h1' }, args, peerId: 'peer-a', ...more }
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const log = createLogger({ level: 'silent' })
let runner: JobRunner

async function expectStillWorks (): Promise<void> {
  const o = await runner.run(spec('ok.mjs', { a: 2, b: 3 }), recorder().events)
  expect(o).toMatchObject({ ok: true, state: 'ready', output: { sum: 5 } })
}

beforeAll(() => {
  runner = createJobRunner({ clock: systemClock, log, store: memoryStore() }, { slots: 4, memoryMb: 96, killGraceMs: 300, heartbeatMs: 50 })
})
afterAll(async () => { await runner.stop() })

describe('module seeds', () => {
  it('runs a default export with ctx (jobId, attempt, peerId, dataFile) and returns its value as the output', async () => {
    const o = await runner.run(spec('ok.mjs', { a: 1, b: 2 }, { jobId: 41, attempt: 2, dataFile: '/tmp/data.bin' }), recorder().events)
    expect(o).toMatchObject({ ok: true, state: 'ready', output: { sum: 3, jobId: 41, attempt: 2, peerId: 'peer-a', dataFile: '/tmp/data.bin', schedule: null } })
    expect(o.durationMs).toBeGreaterThanOrEqual(0)
  })

  it('gives a schedule\'s firing ctx.schedule: the schedule and the tick it fired for', async () => {
    const o = await runner.run(spec('ok.mjs', { a: 1, b: 1 }, { scheduled: true, schedule: { scheduleId: 9, firedAt: 1_767_225_600_000 } }), recorder().events)
    expect(o).toMatchObject({ ok: true, output: { schedule: { scheduleId: 9, firedAt: 1_767_225_600_000 } } })
  })

  it('runs a named run export', async () => {
    const o = await runner.run(spec('run-export.mjs', { name: 'pmz' }), recorder().events)
    expect(o).toMatchObject({ ok: true, output: 'hello pmz' })
  })

  it('reuses a warm child for the next job of a seed and retires it when the hash changes', async () => {
    const first = await runner.run(spec('ok.mjs', { a: 0, b: 0 }, { seed: { name: 'w', path: join(FIXTURES, 'ok.mjs'), kind: 'module', hash: 'warm-1' } }), recorder().events)
    const second = await runner.run(spec('ok.mjs', { a: 0, b: 0 }, { seed: { name: 'w', path: join(FIXTURES, 'ok.mjs'), kind: 'module', hash: 'warm-1' } }), recorder().events)
    const pid = (first.output as { pid: number }).pid
    expect((second.output as { pid: number }).pid).toBe(pid)
    const changed = await runner.run(spec('ok.mjs', { a: 0, b: 0 }, { seed: { name: 'w', path: join(FIXTURES, 'ok.mjs'), kind: 'module', hash: 'warm-2' } }), recorder().events)
    expect((changed.output as { pid: number }).pid).not.toBe(pid)
    await expect.poll(() => isAlive(pid), { timeout: 5000 }).toBe(false)
  })

  it('serves a burst of short jobs with the children there are rather than a fork per job', async () => {
    const burst = createJobRunner({ clock: systemClock, log }, { slots: 8, spawnDelayMs: 5000 })
    try {
      const seed = { name: 'b', path: join(FIXTURES, 'ok.mjs'), kind: 'module' as const, hash: 'burst-1' }
      await burst.run(spec('ok.mjs', { a: 0, b: 0 }, { seed }), recorder().events)
      const outcomes = await Promise.all(Array.from({ length: 8 }, async () => await burst.run(spec('ok.mjs', { a: 1, b: 1 }, { seed }), recorder().events)))
      expect(outcomes.every(o => o.ok)).toBe(true)
      expect(new Set(outcomes.map(o => (o.output as { pid: number }).pid)).size).toBe(1)
    } finally {
      await burst.stop()
    }
  })

  it('paces the forks of a burst: a waiter forks no sooner than spawnDelayMs after the previous fork', async () => {
    const paced = createJobRunner({ clock: systemClock, log }, { slots: 4, spawnDelayMs: 300 })
    try {
      const seed = { name: 'n', path: join(FIXTURES, 'nap.mjs'), kind: 'module' as const, hash: 'nap-1' }
      const outcomes = await Promise.all(Array.from({ length: 4 }, async () => await paced.run(spec('nap.mjs', { ms: 1500 }, { seed }), recorder().events)))
      const pids = [...new Set(outcomes.map(o => (o.output as { pid: number }).pid))]
      expect(pids).toHaveLength(4)
      // A process's start time, clock ticks (1/100 s) since boot: field 22 of /proc/<pid>/stat, read while it idles warm.
      const starts = pids.map(pid => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[19])).sort((a, b) => a - b)
      for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1], `fork ${i}`).toBeGreaterThanOrEqual(25)
    } finally {
      await paced.stop()
    }
  }, 20_000)

  it('reports progress and log lines (ctx.log and console) as they come, and keeps them in the outcome', async () => {
    const rec = recorder()
    const o = await runner.run(spec('progress-log.mjs'), rec.events)
    expect(o).toMatchObject({ ok: true, output: { done: true }, log: { lines: ['info line 1', 'console line', 'warn line'], truncated: false } })
    expect(rec.progress).toEqual([[0.25, 'a quarter'], [1, undefined]])
    expect(rec.lines).toEqual([['info line 1', 'info'], ['console line', 'info'], ['warn line', 'warn']])
    expect(rec.heartbeats).toBeGreaterThanOrEqual(1)
  })

  it('reaches the store through ctx.store', async () => {
    const o = await runner.run(spec('store.mjs', { key: '/jobs/out.txt' }), recorder().events)
    expect(o).toMatchObject({ ok: true, output: { text: 'stored by a job', size: 15, listed: ['/jobs/out.txt'], after: null } })
  })

  it('fails ctx.store calls clearly when the runner has no store', async () => {
    const bare = createJobRunner({ clock: systemClock, log }, { slots: 1 })
    try {
      const o = await bare.run(spec('store.mjs', { key: '/k' }), recorder().events)
      expect(o).toMatchObject({ ok: false, state: 'failed' })
      expect(o.error).toMatch(/ctx\.store/)
    } finally {
      await bare.stop()
    }
  })

  it('fails a seed that cannot be loaded with the load error', async () => {
    const o = await runner.run(spec('broken.mjs'), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed' })
    expect(o.error).toMatch(/^cannot load the seed: SyntaxError/)
    await expectStillWorks()
  })

  it('fails a throwing seed with its message, and keeps running jobs', async () => {
    const o = await runner.run(spec('throws.mjs'), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed', error: 'seed says no' })
    await expectStillWorks()
  })

  it('fails a seed that calls process.exit, and keeps running jobs', async () => {
    const o = await runner.run(spec('exit.mjs'), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed', exitCode: 3 })
    await expectStillWorks()
  })

  it('kills a seed that loops forever at its timeout (SIGTERM ignored, SIGKILL after the grace), and keeps running jobs', async () => {
    const o = await runner.run(spec('loop.mjs', {}, { timeoutMs: 500 }), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed', timedOut: true, signal: 'SIGKILL' })
    expect(o.durationMs).toBeLessThan(5000)
    await expectStillWorks()
  })

  it('fails a seed that blows its heap limit, and keeps running jobs', async () => {
    const o = await runner.run(spec('memory-hog.mjs', {}, { timeoutMs: 30_000 }), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed' })
    expect(o.error).toMatch(/out of memory/)
    await expectStillWorks()
  })

  it('cancels a sleeping job within a second of the signal', async () => {
    await cancelsWithinASecond('slow.mjs')
    await expectStillWorks()
  })

  it('beats while a job runs', async () => {
    const rec = recorder()
    await runner.run(spec('slow.mjs', { ms: 400 }), rec.events)
    expect(rec.heartbeats).toBeGreaterThanOrEqual(3)
  })
})

describe('executables', () => {
  it('passes the args on stdin and in PMZ_ARGS, with PMZ_JOB_ID and PMZ_DATA_FILE; stdout is the output (JSON), lines are the log', async () => {
    const o = await runner.run(spec('ok.sh', { x: [1, 2] }, { jobId: 77, dataFile: '/tmp/d' }), recorder().events)
    expect(o).toMatchObject({ ok: true, state: 'ready', exitCode: 0, output: { stdin: { x: [1, 2] }, env: { x: [1, 2] }, job: '77', data: '/tmp/d', fired: '@' } })
    expect(o.log.lines).toContain('working')
    const fired = await runner.run(spec('ok.sh', {}, { scheduled: true, schedule: { scheduleId: 9, firedAt: 1_767_225_600_000 } }), recorder().events)
    expect(fired).toMatchObject({ ok: true, output: { fired: '9@1767225600000' } })
  })

  it('fails on a non-zero exit with the end of stderr as the error', async () => {
    const o = await runner.run(spec('fail.sh'), recorder().events)
    expect(o).toMatchObject({ ok: false, state: 'failed', exitCode: 1, error: 'something broke', output: 'partial output' })
  })

  it('keeps the newest 1000 log lines and marks the log truncated', async () => {
    const o = await runner.run(spec('many-lines.sh'), recorder().events)
    expect(o.ok).toBe(true)
    expect(o.log.lines).toHaveLength(1000)
    expect(o.log.lines.at(-1)).toBe('3000')
    expect(o.log.truncated).toBe(true)
  })

  it('cancels a shell script waiting on sleep within a second (the whole process group)', async () => {
    await cancelsWithinASecond('sleep.sh')
  })
})

describe('Pulzar Python job classes', () => {
  if (!HAS_PYTHON) console.log('skipping the Python job tests: python3 is not installed')

  const py = async (file: string, args: unknown = {}): Promise<AttemptOutcome> => await runner.run(spec(file, args, { jobId: 9 }), recorder().events)

  it.skipIf(!HAS_PYTHON)('runs a class whose execute() succeeds: output lines, log lines, job_id in the params', async () => {
    const o = await py('py_ok.py', { number: 21 })
    expect(o).toMatchObject({ ok: true, state: 'ready', output: 'double: 42\njob: 9\nfile: None' })
    expect(o.log.lines[0]).toBe('{"number": 21, "job_id": 9, "_pulzar_config": {"scheduled": false}}')
    expect(o.log.lines).toEqual(expect.arrayContaining(['computing', 'printed by the script']))
  })

  it.skipIf(!HAS_PYTHON)('fails a class that raises inside the run decorator with PULZAR_ERROR::message', async () => {
    const o = await py('py_raise.py')
    expect(o).toMatchObject({ ok: false, state: 'failed', error: 'PULZAR_ERROR::bad number' })
    expect(o.log.lines).toContain('PULZAR_ERROR::bad number')
  })

  it.skipIf(!HAS_PYTHON)('fails (never leaves pending) a class whose execute() returns None', async () => {
    const o = await py('py_none.py')
    expect(o).toMatchObject({ ok: false, state: 'failed', output: 'did the work' })
    expect(o.error).toMatch(/returned None/)
  })

  it.skipIf(!HAS_PYTHON)('fails a script that cannot be imported with the import error', async () => {
    const o = await py('py_import.py')
    expect(o).toMatchObject({ ok: false, state: 'failed' })
    expect(o.error).toMatch(/^import failed: ModuleNotFoundError/)
  })

  it.skipIf(!HAS_PYTHON)('fails a class whose constructor raises with the reason', async () => {
    const o = await py('py_ctor.py')
    expect(o.error).toMatch(/^constructor failed: RuntimeError: constructor broke/)
  })
})

describe('stop', () => {
  it('cancels what runs and refuses new attempts with ERR_SHUTTING_DOWN', async () => {
    const own = createJobRunner({ clock: systemClock, log }, { slots: 1, killGraceMs: 300 })
    const rec = recorder()
    const running = own.run(spec('slow.mjs'), rec.events)
    await expect.poll(() => rec.heartbeats, { timeout: 5000 }).toBeGreaterThanOrEqual(1)
    await own.stop()
    expect(await running).toMatchObject({ state: 'cancelled' })
    expect(await codeOf(own.run(spec('ok.mjs', { a: 1, b: 1 }), rec.events))).toBe('ERR_SHUTTING_DOWN')
  })
})

/** Starts `file`, waits until it runs (two heartbeats), cancels it, and expects it ended cancelled within a second. */
async function cancelsWithinASecond (file: string): Promise<void> {
  const rec = recorder()
  const controller = new AbortController()
  const running = runner.run(spec(file), rec.events, { signal: controller.signal })
  await expect.poll(() => rec.heartbeats, { timeout: 5000 }).toBeGreaterThanOrEqual(2)
  const t0 = performance.now()
  controller.abort()
  const o = await running
  expect(performance.now() - t0).toBeLessThan(1000)
  expect(o).toMatchObject({ ok: false, state: 'cancelled' })
}
