import { describe, expect, it } from 'vitest'
import { asBuffer, emittedOf, packetJson, payloadOfLine, payloadsOf } from '../../../../src/pipelines/exec/payloads.js'
import type { Packet } from '../../../../src/pipelines/types.js'

describe('stage payloads', () => {
  it('normalises what run returns: nothing, a value, an array, an async iterable, a generator', async () => {
    expect(await payloadsOf(undefined)).toEqual([])
    expect(await payloadsOf(null)).toEqual([])
    expect(await payloadsOf('text')).toEqual(['text'])
    expect(await payloadsOf(0)).toEqual([0])
    expect(await payloadsOf({ a: 1 })).toEqual([{ a: 1 }])
    expect(await payloadsOf([1, null, undefined, [2]])).toEqual([1, [2]])
    expect(await payloadsOf((async function * () { yield 1; yield null; yield 2 })())).toEqual([1, 2])
    expect(await payloadsOf((function * () { yield 'a' })())).toEqual(['a'])
    const bytes = Buffer.from('ab')
    expect(await payloadsOf(bytes)).toEqual([bytes]) // bytes are one payload, not an iterable of numbers
    await expect(payloadsOf([() => 1])).rejects.toThrow('a payload must be a JSON value or bytes, not a function')
    await expect(payloadsOf(new Map())).rejects.toThrow('not a Map')
  })

  it('checks ctx.emit\'s tag and options', () => {
    expect(emittedOf('t', 1, undefined)).toEqual({ tag: 't', payload: 1 })
    expect(emittedOf('t', 'x', { key: 'k', priority: 9, headers: { a: 'b' } })).toEqual({ tag: 't', payload: 'x', key: 'k', priority: 9, headers: { a: 'b' } })
    expect(() => emittedOf('a b', 1, undefined)).toThrow('is no tag')
    expect(() => emittedOf('t', 1, { priority: 10 })).toThrow('priority must be an integer from 0 to 9')
    expect(() => emittedOf('t', 1, { key: 3 })).toThrow('key must be a string')
    expect(() => emittedOf('t', 1, { headers: { a: 1 } })).toThrow('headers must be an object of strings')
    expect(() => emittedOf('t', 1, 'opts')).toThrow('options must be an object')
    expect(() => emittedOf('t', undefined, undefined)).toThrow('not a undefined')
  })

  it('carries bytes through an executable\'s JSON with a marker', () => {
    const packet: Packet = { id: 'p1', tag: 'in', priority: 2, payload: Buffer.from('hi'), headers: { h: 'v' }, bornAt: 5 }
    expect(JSON.parse(packetJson(packet))).toEqual({ id: 'p1', tag: 'in', priority: 2, payload: { $bytes: 'aGk=' }, headers: { h: 'v' }, bornAt: 5 })
    expect(JSON.parse(packetJson({ ...packet, payload: new Uint8Array([1, 2]) })).payload).toEqual({ $bytes: 'AQI=' })
    expect(payloadOfLine('{"$bytes":"aGk="}')).toEqual(Buffer.from('hi'))
    expect(payloadOfLine('{"$bytes":"aGk=","other":1}')).toEqual({ $bytes: 'aGk=', other: 1 })
    expect(payloadOfLine('[1,2]')).toEqual([1, 2])
    expect(payloadOfLine('42')).toBe(42)
    expect(payloadOfLine('Hello World')).toBe('Hello World')
    expect(Buffer.isBuffer(asBuffer(new Uint8Array([1])))).toBe(true)
    expect(asBuffer('x')).toBe('x')
  })
})
