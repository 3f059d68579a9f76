// A module job's ctx.emit (issue 17 "Injection"), with real children: the
// child asks the runner over IPC, the runner calls its `emit` callback (the
// pipelines' inject in a node) and the job gets the packet id, or the error.
// Needs `npm run build`: module seeds run in the compiled dist/jobs/exec/module-child.js.
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/common/clock.js'
import { PmzError } from '../../src/common/errors.js'
import { createLogger } from '../../src/common/logger.js'
import { createJobRunner, type AttemptEvents, type AttemptSpec, type JobEmitOptions, type JobRunner } from '../../src/jobs/exec/index.js'

const SEED = join(import.meta.dirname, '../fixtures/seeds/jobs/emit.mjs')
const log = createLogger({ level: 'silent' })
const events: AttemptEvents = { onProgress: () => {}, onLog: () => {}, onHeartbeat: () => {} }

let nextJob = 1
function spec (packets: unknown[]): AttemptSpec {
  return { jobId: nextJob++, attempt: 1, seed: { name: 'jobs/emit.mjs', path: SEED, kind: 'module', hash: 'h1' }, args: { packets }, peerId: 'peer-a' }
}

interface Call { tag: string, payload: unknown, options: JobEmitOptions }

describe('ctx.emit of a module job', () => {
  const calls: Call[] = []
  let runner: JobRunner

  beforeAll(() => {
    let n = 0
    runner = createJobRunner({
      clock: systemClock,
      log,
      async emit (tag, payload, options) {
        if (tag === 'nobody') throw new PmzError('ERR_NOT_FOUND', 'no stage consumes the tag nobody')
        if (options.priority !== undefined && options.priority > 9) throw new PmzError('ERR_BAD_REQUEST', 'priority must be an integer from 0 to 9')
        calls.push({ tag, payload, options })
        return `peer-a:${++n}`
      }
    }, { slots: 2, memoryMb: 96 })
  })
  afterAll(async () => { await runner.stop() })

  it('calls the callback with the tag, the payload and {key, priority, headers}, and resolves with its packet id', async () => {
    calls.length = 0
    const o = await runner.run(spec([
      { tag: 'names', payload: { name: 'World' }, options: { key: 'k1', priority: 7, headers: { from: 'job' } } },
      { tag: 'names', payload: 'plain' }
    ]), events)
    expect(o).toMatchObject({ ok: true, output: { ids: [expect.stringMatching(/^peer-a:\d+$/), expect.stringMatching(/^peer-a:\d+$/)] } })
    expect(calls).toEqual([
      { tag: 'names', payload: { name: 'World' }, options: { key: 'k1', priority: 7, headers: { from: 'job' } } },
      { tag: 'names', payload: 'plain', options: {} }
    ])
  })

  it('carries a Buffer payload as bytes: the callback gets a Buffer', async () => {
    calls.length = 0
    const o = await runner.run(spec([{ tag: 'blobs', bytes: 'raw bytes \u00e9' }]), events)
    expect(o).toMatchObject({ ok: true })
    expect(Buffer.isBuffer(calls[0].payload)).toBe(true)
    expect((calls[0].payload as Buffer).toString()).toBe('raw bytes \u00e9')
  })

  it('rejects in the job with the callback\'s code and message (no consumer, bad priority); the job goes on', async () => {
    const none = await runner.run(spec([{ tag: 'names', payload: 1 }, { tag: 'nobody', payload: 2 }]), events)
    expect(none).toMatchObject({ ok: true, output: { ids: [expect.any(String)], error: { code: 'ERR_NOT_FOUND', message: 'no stage consumes the tag nobody' } } })
    const prio = await runner.run(spec([{ tag: 'names', payload: 1, options: { priority: 12 } }]), events)
    expect(prio).toMatchObject({ ok: true, output: { ids: [], error: { code: 'ERR_BAD_REQUEST', message: expect.stringMatching(/priority/) } } })
  })

  it('rejects bad arguments without calling the callback: options, headers, an undefined or uncloneable payload', async () => {
    calls.length = 0
    for (const [packet, message] of [
      [{ tag: 'names', payload: 1, options: 'fast' }, /options must be an object/],
      [{ tag: 'names', payload: 1, options: { headers: { n: 1 } } }, /headers must be an object of strings/],
      [{ tag: 'names', options: { key: 'k' } }, /payload must be a JSON value or bytes/],
      [{ tag: 'names', fn: true }, /could not be cloned/]
    ] as const) {
      const o = await runner.run(spec([packet]), events)
      expect(o, JSON.stringify(packet)).toMatchObject({ ok: true, output: { ids: [], error: { code: 'ERR_BAD_REQUEST', message: expect.stringMatching(message) } } })
    }
    expect(calls).toEqual([])
  })
})

describe('ctx.emit without pipelines', () => {
  it('rejects with ERR_UNAVAILABLE when the runner has no emit callback', async () => {
    const bare = createJobRunner({ clock: systemClock, log }, { slots: 1, memoryMb: 96 })
    try {
      const o = await bare.run(spec([{ tag: 'names', payload: 1 }]), events)
      expect(o).toMatchObject({ ok: true, output: { ids: [], error: { code: 'ERR_UNAVAILABLE', message: expect.stringMatching(/ctx\.emit is not available/) } } })
    } finally {
      await bare.stop()
    }
  })
})
