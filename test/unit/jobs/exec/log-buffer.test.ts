import { describe, expect, it } from 'vitest'
import { LineSplitter, LogBuffer, TailBuffer } from '../../../../src/jobs/exec/log-buffer.js'

describe('LogBuffer', () => {
  it('keeps every line under its bounds and is not truncated', () => {
    const log = new LogBuffer({ maxLines: 5 })
    for (const l of ['a', 'b', 'c']) log.push(l)
    expect(log.snapshot()).toEqual({ lines: ['a', 'b', 'c'], truncated: false })
  })

  it('keeps the newest lines past the line count and marks the log truncated', () => {
    const log = new LogBuffer({ maxLines: 1000 })
    for (let i = 1; i <= 3000; i++) log.push(String(i))
    const { lines, truncated } = log.snapshot()
    expect(lines).toHaveLength(1000)
    expect(lines[0]).toBe('2001')
    expect(lines.at(-1)).toBe('3000')
    expect(truncated).toBe(true)
  })

  it('keeps the newest lines within the byte budget', () => {
    const log = new LogBuffer({ maxLines: 100, maxBytes: 25 })
    for (let i = 0; i < 10; i++) log.push(`line-${i}-xx`) // 11 bytes each
    expect(log.snapshot()).toEqual({ lines: ['line-8-xx', 'line-9-xx'], truncated: true })
  })

  it('cuts a line longer than the line limit', () => {
    const log = new LogBuffer({ maxLineBytes: 8 })
    expect(log.push('0123456789abcdef')).toBe('01234567 [cut]')
    expect(log.snapshot().truncated).toBe(true)
  })
})

describe('LineSplitter', () => {
  it('splits chunks on newlines, joins partial lines and flushes the last one at the end', () => {
    const lines: string[] = []
    const s = new LineSplitter(l => lines.push(l))
    s.write('one\r\ntw')
    s.write(Buffer.from('o\nthree'))
    expect(lines).toEqual(['one', 'two'])
    s.end()
    expect(lines).toEqual(['one', 'two', 'three'])
  })

  it('emits a line without newlines in pieces rather than growing', () => {
    const lines: string[] = []
    const s = new LineSplitter(l => lines.push(l), 4)
    s.write('abcdefghij')
    s.end()
    expect(lines).toEqual(['abcd', 'efgh', 'ij'])
  })
})

describe('TailBuffer', () => {
  it('keeps the end of a stream, from a line boundary, trimmed', () => {
    const t = new TailBuffer(12)
    t.write(Buffer.from('first line\nsecond\n'))
    t.write(Buffer.from('third\n'))
    expect(t.text()).toBe('third')
  })

  it('is everything when the stream is short', () => {
    const t = new TailBuffer(100)
    t.write(Buffer.from('  boom\n'))
    expect(t.text()).toBe('boom')
  })
})
