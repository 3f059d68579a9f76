import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { packetsToColumns } from '../../../src/pipelines/columns.js'
import { parsePipeMessage } from '../../../src/pipelines/messages.js'
import type { Packet } from '../../../src/pipelines/types.js'
import { packet } from './fixtures.js'

const refused = (m: unknown): boolean => {
  try { parsePipeMessage(m); return false } catch (err) { return isPmzError(err, 'ERR_BAD_REQUEST') }
}

const cols = (...packets: Packet[]): Record<string, unknown> => structuredClone(packetsToColumns(packets)) as unknown as Record<string, unknown>

describe('pipe messages', () => {
  it('accepts well-formed pushes, acks and events', () => {
    expect(parsePipeMessage({ type: 'pipe.push', v: 3, stage: 's', batch: 7, cols: cols(packet('a')) })).toMatchObject({ stage: 's', batch: 7, packets: [{ id: 'a' }] })
    const ack = { type: 'pipe.ack', v: 3, stage: 's', done: [7, 8], inbox: 3, nack: [{ batch: 7, ids: ['b'] }, { batch: 9 }] }
    expect(parsePipeMessage(ack)).toEqual(ack)
    expect(parsePipeMessage({ type: 'pipe.event', v: 3, name: 'pause', stages: ['s'] })).toEqual({ type: 'pipe.event', v: 3, name: 'pause', stages: ['s'] })
  })

  it('refuses another version, a bad field or a bad packet', () => {
    expect(refused({ type: 'pipe.push', v: 2, stage: 's', cols: cols() })).toBe(true)
    expect(refused({ type: 'pipe.push', v: 3, stage: 's', cols: cols(packet('a')) })).toBe(true) // version 2's shape: no batch
    expect(refused({ type: 'pipe.push', v: 3, stage: 's', batch: 1, packets: [packet('a')] })).toBe(true) // version 1's shape
    expect(refused({ type: 'pipe.push', v: 3, stage: 's', batch: 1, cols: { ...cols(packet('a')), prios: [12] } })).toBe(true)
    expect(refused({ type: 'pipe.push', v: 3, stage: 's', batch: 1, cols: cols({ ...packet('a'), headers: { a: 1 } as unknown as Record<string, string> }) })).toBe(true)
    expect(refused({ type: 'pipe.push', v: 3, stage: 's', batch: 1, cols: cols({ ...packet('a'), id: '' }) })).toBe(true)
    expect(refused({ type: 'pipe.ack', v: 3, stage: 's', ids: ['a'], inbox: 0 })).toBe(true) // version 2's shape: packet ids
    expect(refused({ type: 'pipe.ack', v: 3, stage: 's', done: ['a'], inbox: 0 })).toBe(true)
    expect(refused({ type: 'pipe.ack', v: 3, stage: 's', done: [], inbox: -1 })).toBe(true)
    expect(refused({ type: 'pipe.ack', v: 3, stage: 's', done: [], inbox: 0, nack: [{ ids: ['a'] }] })).toBe(true)
    expect(refused({ type: 'pipe.ack', v: 3, stage: 's', done: [], inbox: 0, nack: [{ batch: 1, ids: [2] }] })).toBe(true)
    expect(refused({ type: 'pipe.event', v: 3 })).toBe(true)
    expect(refused({ type: 'pipe.other', v: 3 })).toBe(true)
    expect(refused(null)).toBe(true)
  })
})
