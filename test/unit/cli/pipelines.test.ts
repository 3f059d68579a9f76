import { describe, expect, it } from 'vitest'
import { CliError } from '../../../src/cli/client.js'
import { eventBody, formatStatus, injectPath } from '../../../src/cli/commands/pipelines.js'
import { SAMPLE_STATUS } from '../../helpers/pipelines.js'

describe('pmz inject', () => {
  it('puts key and priority in the query, encoded', () => {
    expect(injectPath('names', {})).toBe('/pipelines/inject/names')
    expect(injectPath('names', { key: 'user 7/ä', priority: '9' })).toBe('/pipelines/inject/names?key=user+7%2F%C3%A4&priority=9')
  })

  it('refuses a priority outside 0-9, an empty key and a tag with a slash, in one line', () => {
    for (const p of ['10', '-1', '1.5', 'high', '']) expect(() => injectPath('t', { priority: p })).toThrow(CliError)
    expect(() => injectPath('t', { priority: 'x' })).toThrow('--priority: expected an integer from 0 to 9, got "x"')
    expect(() => injectPath('t', { key: '' })).toThrow(CliError)
    expect(() => injectPath('a/b', {})).toThrow(CliError)
  })
})

describe('pmz pipeline events', () => {
  it('builds the optional {stages, args} body', () => {
    expect(eventBody('pause', {})).toBeUndefined()
    expect(JSON.parse(eventBody('reload', { stages: 'pumpkin/greet, pumpkin/extract', args: '{"v":2}' })!))
      .toEqual({ stages: ['pumpkin/greet', 'pumpkin/extract'], args: { v: 2 } })
  })

  it('refuses a bad event name, empty stages and args that are not JSON', () => {
    expect(() => eventBody('Pause', {})).toThrow(CliError)
    expect(() => eventBody('stop', { stages: ' , ' })).toThrow(CliError)
    expect(() => eventBody('stop', { args: '{nope' })).toThrow(/^--args is not JSON/)
  })
})

describe('pmz pipeline status', () => {
  it('shows one line per stage and peer, and a stage no peer runs', () => {
    expect(formatStatus(SAMPLE_STATUS)).toBe(
      'STAGE            CONSUMES   PRODUCES   PEER  STATE    INST  INBOX  RUNNING  DONE  FAILED  RATE/S  DLQ  LAST ERROR\n' +
      'pumpkin/greet    names      greetings  p1    running  2     5      2        120   1       12.5    1    boom\n' +
      'pumpkin/greet    names      greetings  p2    paused   1     0      0        7     0       0       1\n' +
      'pumpkin/extract  greetings  -          -     -        0     0      0        0     0       0       0\n')
    expect(formatStatus({ stages: [], tags: {} })).toMatch(/^no stages/)
  })
})
