import { describe, expect, it } from 'vitest'
import { jobEnv, parseOutput, processError } from '../../../../src/jobs/exec/attempt.js'

describe('parseOutput', () => {
  it('is JSON when the whole of stdout parses, else the trimmed text', () => {
    expect(parseOutput('{"a": 1}\n')).toEqual({ a: 1 })
    expect(parseOutput(' 42 ')).toBe(42)
    expect(parseOutput('hello\nworld\n')).toBe('hello\nworld')
    expect(parseOutput('{"a": 1}\nmore')).toBe('{"a": 1}\nmore')
    expect(parseOutput('')).toBe('')
  })
})

describe('processError', () => {
  it('is the tail of stderr, else how the process ended', () => {
    expect(processError({ exitCode: 1, signal: null, stderrTail: 'boom' })).toBe('boom')
    expect(processError({ exitCode: 2, signal: null, stderrTail: '' })).toBe('exited with code 2')
    expect(processError({ exitCode: null, signal: 'SIGKILL', stderrTail: '' })).toBe('killed by SIGKILL')
  })
})

describe('jobEnv', () => {
  const spec = { jobId: 7, attempt: 2, peerId: 'p1', seed: { name: 'a/b', path: '/x/a/b.sh', kind: 'executable' as const, hash: 'h' }, args: {} }

  it('adds the PMZ_* variables of the attempt to the base environment', () => {
    const env = jobEnv({ HOME: '/root' }, { ...spec, dataFile: '/tmp/f' })
    expect(env).toMatchObject({ HOME: '/root', PMZ_JOB_ID: '7', PMZ_ATTEMPT: '2', PMZ_PEER_ID: 'p1', PMZ_SEED: 'a/b', PMZ_DATA_FILE: '/tmp/f' })
  })

  it('never passes on a PMZ_DATA_FILE of the peer itself', () => {
    expect(jobEnv({ PMZ_DATA_FILE: '/stale' }, spec).PMZ_DATA_FILE).toBeUndefined()
  })
})
