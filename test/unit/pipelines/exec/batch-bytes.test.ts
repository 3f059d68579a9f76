import { describe, expect, it } from 'vitest'
import { packBatchBytes } from '../../../../src/pipelines/exec/batch-bytes.js'
import type { ChildMessage, ParentMessage } from '../../../../src/pipelines/exec/stage-messages.js'
import type { Packet } from '../../../../src/pipelines/types.js'

const packet = (payload: unknown): Packet => ({ id: 'p', tag: 't', priority: 0, headers: {}, payload, bornAt: 0 })

describe('the payload bytes of a batch to or from a stage thread', () => {
  it('move into one new buffer (to transfer), each payload a view of its own bytes only; the engine\'s packets stay as they were', () => {
    const message = Buffer.alloc(4096, 9) // a mesh message: payloads are views into it
    const a = message.subarray(100, 103).fill(1)
    const b = Buffer.from([2, 2])
    const engines = [packet(a), packet({ json: true }), packet(b)]
    const msgs: ParentMessage[] = engines.map((p, i) => ({ type: 'run', id: i, packet: p }))
    const buffer = packBatchBytes(msgs) as ArrayBuffer
    expect(buffer.byteLength).toBe(5)
    const sent = msgs.map(m => (m as Extract<ParentMessage, { type: 'run' }>).packet.payload)
    expect(sent[0]).toEqual(new Uint8Array([1, 1, 1]))
    expect(sent[2]).toEqual(new Uint8Array([2, 2]))
    expect((sent[0] as Uint8Array).buffer).toBe(buffer)
    expect((sent[2] as Uint8Array).buffer).toBe(buffer)
    expect(sent[1]).toEqual({ json: true })
    expect(engines[0].payload).toBe(a) // a retry or a dead letter still has the original
    expect(engines[2].payload).toBe(b)
  })

  it('gathers the outputs of results and pulls; nothing to transfer when no payload is bytes', () => {
    const msgs: ChildMessage[] = [
      { type: 'result', id: 1, ok: true, emitted: [{ tag: 'o', payload: Buffer.from('xy') }, { tag: 'o', payload: 'text' }] },
      { type: 'pulled', id: 2, items: [{ tag: 'o', payload: Buffer.from('z') }], done: false },
      { type: 'log', level: 'info', text: 'hello' }
    ]
    const buffer = packBatchBytes(msgs) as ArrayBuffer
    expect(Buffer.from(buffer).toString()).toBe('xyz')
    expect(packBatchBytes([{ type: 'result', id: 3, ok: true, emitted: [{ tag: 'o', payload: 1 }] }])).toBeUndefined()
  })
})
