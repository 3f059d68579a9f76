import { describe, expect, it } from 'vitest'
import { PmzError, isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { DiskSpace, isNoSpaceError } from '../../../src/store/disk-space.js'
import { isLmdbOrphanRejection } from '../../../src/store/lmdb-orphans.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const MIB = 1024 * 1024

function setup (minFreeMb: number): { space: DiskSpace, disk: { freeBytes: number }, clock: ManualClock, lines: Array<{ level: number, msg: string }> } {
  const lines: Array<{ level: number, msg: string }> = []
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => { lines.push(JSON.parse(line)) } } })
  const clock = new ManualClock()
  const disk = { freeBytes: 100 * MIB }
  const space = new DiskSpace({ clock, log, statDisk: () => ({ freeBytes: disk.freeBytes, totalBytes: 200 * MIB }) }, { dir: '/data', minFreeBytes: minFreeMb * MIB })
  return { space, disk, clock, lines }
}

function errno (code: string | number, message = 'failed'): Error {
  return Object.assign(new Error(message), { code })
}

describe('DiskSpace', () => {
  it('reads a full disk, a full LMDB map or a short LMDB write on an almost full disk as ERR_NO_SPACE (507)', () => {
    const { space, disk } = setup(0)
    for (const err of [errno('ENOSPC'), errno('EDQUOT'), errno(28), errno(-30792, 'MDB_MAP_FULL: Environment mapsize limit reached')]) {
      const e = space.classify(err, 'committing to LMDB')
      expect(e.code, String((err as { code?: unknown }).code)).toBe('ERR_NO_SPACE')
      expect(e.status).toBe(507)
      expect(e.cause).toBe(err)
    }
    // LMDB says EIO when a write is cut short: a full disk only when little is left.
    expect(space.classify(errno(5, 'Input/output error'), 'committing').code).toBe('ERR_STORE_IO')
    disk.freeBytes = 100 * 1024
    expect(space.classify(errno(5, 'Input/output error'), 'committing').code).toBe('ERR_NO_SPACE')
    expect(space.classify(errno('EACCES'), 'committing').code).toBe('ERR_STORE_IO')
  })

  it('leaves a PmzError (a conflict, a bad request) as it is', () => {
    const { space } = setup(0)
    const conflict = new PmzError('ERR_CONFLICT', 'key already exists')
    expect(space.classify(conflict, 'x')).toBe(conflict)
    expect(isNoSpaceError(errno('ENOENT'))).toBe(false)
  })

  it('refuses new values below the floor, logs the crossing once each way, and reports it', () => {
    const { space, disk, clock, lines } = setup(64)
    expect(() => space.admit()).not.toThrow()
    disk.freeBytes = 10 * MIB
    clock.advance(1000)
    for (let i = 0; i < 5; i++) {
      let caught: unknown
      try { space.admit() } catch (err) { caught = err }
      expect(isPmzError(caught, 'ERR_NO_SPACE')).toBe(true)
      expect((caught as PmzError).status).toBe(507)
      clock.advance(1000)
    }
    expect(space.usage()).toEqual({ free_mb: 10, total_mb: 200, min_free_mb: 64, accepting_writes: false })
    expect(lines.filter(l => l.level === 40).map(l => l.msg)).toEqual(['free disk space below min_free_mb: refusing new values'])
    disk.freeBytes = 80 * MIB
    clock.advance(1000)
    expect(() => space.admit()).not.toThrow()
    expect(space.usage().accepting_writes).toBe(true)
    expect(lines.filter(l => l.level === 30).map(l => l.msg)).toEqual(['free disk space above min_free_mb again: taking new values'])
  })

  it('with no floor, takes every value whatever the free space', () => {
    const { space, disk } = setup(0)
    disk.freeBytes = 0
    expect(() => space.admit()).not.toThrow()
    expect(space.usage().accepting_writes).toBe(true)
  })
})

describe('isLmdbOrphanRejection', () => {
  it('knows the promises lmdb-js rejects for itself, and nothing else', () => {
    expect(isLmdbOrphanRejection(new Error('Commit failed (see commitError for details)'))).toBe(true)
    const cause = Object.assign(new Error('Input/output error'), { code: 5 })
    cause.stack = 'Error: Input/output error\n    at Function.<anonymous> (file:///app/node_modules/lmdb/write.js:516:7)'
    expect(isLmdbOrphanRejection(cause)).toBe(true)
    expect(isLmdbOrphanRejection(new Error('boom'))).toBe(false)
    expect(isLmdbOrphanRejection('Commit failed (see commitError for details)')).toBe(false)
  })
})
