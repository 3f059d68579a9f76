import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { declaredSchedule, isLimits, limitsFrom, moduleLimits } from '../../../src/seeds/seed-limits.js'
import { LocalEntries } from '../../../src/seeds/local-entries.js'
import type { Seed } from '../../../src/seeds/index.js'
import { createLogger } from '../../../src/common/logger.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('seed limits', () => {
  it('reads concurrency, timeoutMs and retries, and refuses values out of range', () => {
    expect(limitsFrom({ concurrency: 2, timeoutMs: 500, retries: 0, other: 'x' })).toEqual({ ok: true, limits: { concurrency: 2, timeoutMs: 500, retries: 0 } })
    expect(limitsFrom(undefined)).toEqual({ ok: true, limits: {} })
    expect(limitsFrom({ concurrency: 0 })).toEqual({ ok: false, error: 'concurrency must be an integer from 1 to 1000000' })
    expect(limitsFrom({ retries: 1.5 })).toMatchObject({ ok: false })
    expect(limitsFrom({ timeoutMs: '10' })).toMatchObject({ ok: false })
  })

  it('takes a module\'s named exports over its default export object', () => {
    expect(moduleLimits({ default: { run: () => 1, retries: 2, concurrency: 1 }, retries: 3 })).toEqual({ ok: true, limits: { retries: 3, concurrency: 1 } })
    expect(moduleLimits({ default: () => 1 })).toEqual({ ok: true, limits: {} })
    expect(moduleLimits({ default: { timeoutMs: -1 } })).toMatchObject({ ok: false })
  })

  it('reads a declared schedule as plain JSON, from a named or the default export', () => {
    expect(declaredSchedule({ schedule: { every: '5 minutes' } })).toEqual({ ok: true, schedule: { every: '5 minutes' } })
    expect(declaredSchedule({ default: { run: () => 1, schedule: { cron: '* * * * *', tz: 'UTC' } } })).toEqual({ ok: true, schedule: { cron: '* * * * *', tz: 'UTC' } })
    expect(declaredSchedule({ default: () => 1 })).toEqual({ ok: true })
    expect(declaredSchedule({ schedule: '5 minutes' })).toMatchObject({ ok: false })
    expect(declaredSchedule({ schedule: { every: 'x'.repeat(2000) } })).toMatchObject({ ok: false })
  })

  it('checks gossiped limits: known fields in range only', () => {
    expect(isLimits({ concurrency: 3 })).toBe(true)
    expect(isLimits({ concurrency: 3, evil: 1 })).toBe(false)
    expect(isLimits({ retries: -1 })).toBe(false)
    expect(isLimits([1])).toBe(false)
  })

  it('puts a module\'s and a sidecar\'s limits in the catalog entry; bad limits are the seed\'s error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmz-limits-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'tool.sh'), '#!/bin/sh\necho hi\n')
    chmodSync(join(dir, 'tool.sh'), 0o755)
    writeFileSync(join(dir, 'tool.json'), '{"description": "A tool", "timeoutMs": 2000, "concurrency": 4}')
    writeFileSync(join(dir, 'bad.sh'), '#!/bin/sh\n')
    chmodSync(join(dir, 'bad.sh'), 0o755)
    writeFileSync(join(dir, 'bad.json'), '{"retries": 1000}')
    const seed = (name: string, kind: Seed['kind'], exports?: Record<string, unknown>): Seed =>
      ({ name, path: join(dir, kind === 'module' ? `${name}.mjs` : `${name}.sh`), kind, hash: 'h', size: 1, mtimeMs: 1, ...(exports !== undefined ? { exports } : {}) })
    const entries = await new LocalEntries(createLogger({ level: 'silent' })).describe([
      seed('bad', 'executable'),
      seed('mod', 'module', { default: () => 1, concurrency: 1, retries: 2, schedule: { every: '1 minute' } }),
      seed('plain', 'module', { default: () => 1 }),
      seed('tool', 'executable')
    ])
    expect(entries.find(e => e.name === 'mod')?.schedule).toEqual({ every: '1 minute' })
    expect(entries.map(e => [e.name, e.limits, e.error])).toEqual([
      ['bad', undefined, 'bad limits in bad.json: retries must be an integer from 0 to 100'],
      ['mod', { concurrency: 1, retries: 2 }, undefined],
      ['plain', undefined, undefined],
      ['tool', { timeoutMs: 2000, concurrency: 4 }, undefined]
    ])
  })
})
