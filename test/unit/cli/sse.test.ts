import { describe, expect, it } from 'vitest'
import { progressCell } from '../../../src/cli/commands/jobs.js'
import { SseParser } from '../../../src/cli/sse.js'
import { formatTable } from '../../../src/cli/table.js'

describe('SseParser', () => {
  it('reads events split anywhere across chunks, skipping comments', () => {
    const p = new SseParser()
    const text = ': ping\n\nevent: state\ndata: {"a":1}\n\nevent: log\r\ndata: one\ndata: two\n\ndata: plain\n\n'
    const events = [...text].flatMap(c => p.push(c))
    expect(events).toEqual([
      { event: 'state', data: '{"a":1}' },
      { event: 'log', data: 'one\ntwo' },
      { event: 'message', data: 'plain' }
    ])
  })

  it('holds an event until its blank line', () => {
    const p = new SseParser()
    expect(p.push('event: end\ndata: {}\n')).toEqual([])
    expect(p.push('\n')).toEqual([{ event: 'end', data: '{}' }])
  })
})

describe('CLI tables', () => {
  it('aligns columns under their headings, without trailing blanks', () => {
    const rows = [{ id: 1, s: 'running' }, { id: 22, s: '' }]
    expect(formatTable([['ID', r => String(r.id)], ['STATE', r => r.s]], rows)).toBe('ID  STATE\n1   running\n22\n')
  })

  it('shows progress as a percent and its text', () => {
    expect(progressCell({ fraction: 0.426, text: 'step 2' })).toBe('43% step 2')
    expect(progressCell({ fraction: 1 })).toBe('100%')
    expect(progressCell(null)).toBe('')
  })
})
