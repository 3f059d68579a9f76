import { describe, expect, it } from 'vitest'
import { columnBuffers, compactCalls, compactReplies, expandCall, expandReply } from '../../../../src/pipelines/exec/call-columns.js'
import type { ChildMessage, ParentMessage } from '../../../../src/pipelines/exec/stage-messages.js'
import type { Packet } from '../../../../src/pipelines/types.js'

const packet = (i: number): Packet => ({ id: `p${i}`, tag: 't', priority: i % 10, headers: {}, payload: Buffer.from([i]), bornAt: i })

describe('the calls and replies of a turn as columns', () => {
  it('runs of a turn cross as one runs message between the other messages, in order, and expand back to the same runs', () => {
    const msgs: ParentMessage[] = [
      { type: 'run', id: 1, packet: packet(1) },
      { type: 'run', id: 2, packet: packet(2) },
      { type: 'event', id: 3, name: 'go', args: {} },
      { type: 'run', id: 4, packet: packet(4) }
    ]
    const compact = compactCalls(msgs)
    expect(compact.map(m => m.type)).toEqual(['runs', 'event', 'run'])
    expect(compact.flatMap(expandCall)).toEqual(msgs)
    expect(columnBuffers(compact)).toHaveLength(1)
    expect(msgs[0].type === 'run' && Buffer.isBuffer(msgs[0].packet.payload)).toBe(true) // the engine's packets are untouched
  })

  it('results of a turn cross as one results message (outputs per call, errors kept) and a pull\'s items as columns', () => {
    const msgs: ChildMessage[] = [
      { type: 'result', id: 1, ok: true, emitted: [{ tag: 'o', payload: Buffer.from('a') }, { tag: 'o', payload: { v: 1 } }] },
      { type: 'result', id: 2, ok: false, emitted: [], error: 'boom' },
      { type: 'result', id: 3, ok: true, emitted: [{ tag: 'x', key: 'k', priority: 2, payload: Buffer.from('bc') }] },
      { type: 'log', level: 'info', text: 'hi' },
      { type: 'pulled', id: 4, items: [{ tag: 's', payload: Buffer.from('d') }, { tag: 's', payload: Buffer.from('e') }], done: false }
    ]
    const compact = compactReplies(msgs)
    expect(compact.map(m => m.type)).toEqual(['results', 'log', 'pulled'])
    expect(columnBuffers(compact)).toHaveLength(2)
    expect(compact.flatMap(m => expandReply(structuredClone(m)))).toEqual(msgs)
  })

  it('a lone run or result stays as it is', () => {
    const run: ParentMessage = { type: 'run', id: 1, packet: packet(1) }
    expect(compactCalls([run])).toEqual([run])
    const result: ChildMessage = { type: 'result', id: 1, ok: true, emitted: [] }
    expect(compactReplies([result])).toEqual([result])
  })
})
