import { describe, expect, it } from 'vitest'
import { JobTable, MAX_RELAY_LINE_CHARS, MAX_RELAY_LINES, batch, jobChange, type JobOp, type JobOutcome } from '../../../../src/jobs/index.js'
import { LogRelay } from '../../../../src/jobs/driver/log-relay.js'
import { T0, cmd, launch, run } from '../fixtures.js'

const beat = (lines: unknown, attempt = 1): JobOp => ({ type: 'heartbeat', v: 1, at: T0, jobId: 1, attempt, lines } as JobOp)

describe('LogRelay', () => {
  it('hands over the lines once, in order', () => {
    const r = new LogRelay()
    expect(r.take()).toBeUndefined()
    r.push('a')
    r.push('b')
    expect(r.take()).toEqual(['a', 'b'])
    expect(r.take()).toBeUndefined()
  })

  it('keeps at most MAX_RELAY_LINES, the newest, and says how many it dropped; the table takes what it hands over', () => {
    const r = new LogRelay()
    for (let i = 0; i < MAX_RELAY_LINES + 50; i++) r.push(`l${i}`)
    const lines = r.take()!
    expect(lines).toHaveLength(MAX_RELAY_LINES)
    expect(lines[0]).toBe('[51 log lines not relayed]')
    expect(lines.at(-1)).toBe(`l${MAX_RELAY_LINES + 49}`)
    const table = new JobTable()
    run(table, launch(1), cmd.assign(1, 'w1', 1))
    expect(table.apply(beat(lines))).toMatchObject({ ok: true })
  })

  it('cuts a line longer than MAX_RELAY_LINE_CHARS', () => {
    const r = new LogRelay()
    r.push('x'.repeat(MAX_RELAY_LINE_CHARS * 2))
    const [line] = r.take()!
    expect(line.length).toBeLessThanOrEqual(MAX_RELAY_LINE_CHARS)
    expect(line.endsWith(' [cut]')).toBe(true)
  })
})

describe('relayed log lines in the job table', () => {
  it('refuses lines that are not a bounded array of bounded strings, and never keeps them', () => {
    const table = new JobTable()
    run(table, launch(1), cmd.assign(1, 'w1', 1))
    for (const bad of ['one', [1], new Array(MAX_RELAY_LINES + 1).fill('x'), ['x'.repeat(MAX_RELAY_LINE_CHARS + 1)]]) {
      expect((table.apply(beat(bad)) as JobOutcome).ok).toBe(false)
    }
    expect(table.apply({ type: 'progress', v: 1, at: T0, jobId: 1, attempt: 1, fraction: 0.5, lines: ['p'] })).toMatchObject({ ok: true })
    expect(JSON.stringify(table.get(1))).not.toContain('"p"')
  })

  it('jobChange: the lines of the live attempt for the job followed, batches included', () => {
    const table = new JobTable()
    run(table, launch(1), launch(2), cmd.assign(1, 'w1', 1), cmd.assign(2, 'w1', 1))
    const b = batch([beat(['a']), { type: 'heartbeat', v: 1, at: T0, jobId: 2, attempt: 1, lines: ['other'] }, beat(['b'])])
    table.apply(b)
    expect(jobChange(b, 1, table.get(1))).toEqual({ job: table.get(1), lines: ['a', 'b'] })
    expect(jobChange(cmd.cancel(3), 1, table.get(1))).toBeUndefined()
    // A late report of an earlier attempt touches the job but relays nothing.
    expect(jobChange(beat(['late'], 7), 1, table.get(1))).toEqual({ job: table.get(1), lines: [] })
    // A prune that removed the job: the follower hears it is gone.
    expect(jobChange(cmd.prune(T0), 1, undefined)).toEqual({ job: undefined, lines: [] })
    expect(jobChange(cmd.prune(T0), 1, table.get(1))).toBeUndefined()
  })
})
