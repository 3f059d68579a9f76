import { describe, expect, it } from 'vitest'
import { buildGraph } from '../../../src/pipelines/core/graph-rules.js'
import { Outbox } from '../../../src/pipelines/core/outbox.js'
import { decideScale, type ScaleInput } from '../../../src/pipelines/core/scale-rules.js'
import { accepts, applyEvent, serves } from '../../../src/pipelines/core/stage-state.js'
import type { Packet } from '../../../src/pipelines/types.js'
import { packet, spec } from './fixtures.js'

const alive = (dead: string[] = []) => (p: string): boolean => !dead.includes(p)

function outbox (window = 2): Outbox {
  const o = new Outbox({ window, ackTimeoutMs: 1_000, nackRetryMs: 100 })
  o.setGraph(buildGraph([spec('a', ['t'], ['p1', 'p2']), spec('b', ['t'], ['p3'])]))
  return o
}

describe('outbox', () => {
  it('delivers a packet to one peer of each consuming stage, and reports sent then acked', () => {
    const o = outbox()
    const events: string[] = []
    const { dropped } = o.submit([packet('x'), packet('y', { tag: 'nobody' })], { onSent: () => events.push('sent'), onAcked: () => events.push('acked') }, 0)
    expect(dropped).toBe(1)
    const { sends } = o.flush(0, alive())
    expect(sends.map(s => [s.stage, s.packets.map(p => p.id)])).toEqual([['a', ['x']], ['b', ['x']]])
    expect(events).toEqual(['sent'])
    const a = sends[0]
    o.ack(a.peer, 'a', [a.batch])
    expect(events).toEqual(['sent'])
    o.ack('p3', 'b', [sends[1].batch])
    expect(events).toEqual(['sent', 'acked'])
    expect(o.unackedCount + o.pendingCount).toBe(0)
  })

  it('keeps one in-flight record per batch, and one ack naming the batch settles all its packets', () => {
    const o = outbox(100)
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    let acked = 0
    for (let i = 0; i < 3; i++) o.submit(Array.from({ length: 20 }, (_, j) => packet(`${i}.${j}`, { tag: 'u' })), { onAcked: () => acked++ }, 0)
    const { sends } = o.flush(0, alive())
    expect(sends.map(s => s.packets.length)).toEqual([60]) // what one flush sends to one (stage, peer): one batch
    expect(o.batchCount).toBe(1)
    expect(o.unackedCount).toBe(60)
    o.ack('p1', 'c', [sends[0].batch + 1]) // another batch's id: nothing
    o.ack('p2', 'c', [sends[0].batch]) // another peer: nothing
    expect(o.unackedCount).toBe(60)
    o.ack('p1', 'c', [sends[0].batch])
    expect(acked).toBe(3)
    expect(o.batchCount).toBe(0)
    expect(o.unackedCount + o.pendingCount).toBe(0)
  })

  it('sends one batch per priority, so that a low-priority packet left waiting holds only its own batch\'s credit', () => {
    const o = outbox(100)
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    const acked: string[] = []
    for (const [id, priority] of [['l1', 0], ['h1', 9], ['l2', 0], ['h2', 9]] as const) o.submit([packet(id, { tag: 'u', priority })], { onAcked: () => acked.push(id) }, 0)
    const { sends } = o.flush(0, alive())
    expect(sends.map(s => s.packets.map(p => p.id))).toEqual([['l1', 'l2'], ['h1', 'h2']])
    o.ack('p1', 'c', [sends[1].batch]) // the high ones are done first
    expect(acked).toEqual(['h1', 'h2'])
    expect(o.inFlight('c', 'p1')).toBe(2)
  })

  it('closes a batch at about `batchBytes`: a packet over it goes alone, in order', () => {
    const o = new Outbox({ window: 1_000, ackTimeoutMs: 1_000, nackRetryMs: 100, batchBytes: { max: 1000, of: p => Number(p.headers.size) } })
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    const p = (id: string, size: number): Packet => packet(id, { tag: 'u', headers: { size: String(size) } })
    o.submit([p('a', 300), p('b', 300), p('c', 300), p('d', 5000), p('e', 10)], {}, 0)
    const { sends } = o.flush(0, alive())
    expect(sends.map(s => s.packets.map(x => x.id))).toEqual([['a', 'b', 'c'], ['d'], ['e']])
    expect(new Set(sends.map(s => s.batch)).size).toBe(3)
  })

  it('a partial nack takes those packets out of the batch: its ack then settles the rest, the nacked go again', () => {
    const o = outbox(100)
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    let acked = false
    o.submit([packet('x', { tag: 'u' }), packet('y', { tag: 'u' }), packet('z', { tag: 'u' })], { onAcked: () => { acked = true } }, 0)
    const [first] = o.flush(0, alive()).sends
    o.nack('p1', 'c', first.batch, ['y'], 10)
    o.ack('p1', 'c', [first.batch])
    expect(acked).toBe(false)
    expect(o.unackedCount + o.pendingCount).toBe(1)
    const again = o.flush(110, alive()).sends
    expect(again.map(s => s.packets.map(p => p.id))).toEqual([['y']])
    expect(again[0].batch).not.toBe(first.batch)
    o.ack('p1', 'c', [again[0].batch])
    expect(acked).toBe(true)
  })

  it('holds a packet no stage consumes yet until the graph learns a consumer, or drops it after orphanHoldMs', () => {
    const o = new Outbox({ window: 2, ackTimeoutMs: 1_000, nackRetryMs: 100, orphanHoldMs: 5_000 })
    o.setGraph(buildGraph([spec('a', ['t'], ['p1'])]))
    const events: string[] = []
    expect(o.submit([packet('x', { tag: 'later' })], { onSent: () => events.push('sent x'), onAcked: () => events.push('acked x') }, 0)).toEqual({ dropped: 0 })
    o.submit([packet('y', { tag: 'never' })], { onSent: () => events.push('sent y'), onAcked: () => events.push('acked y') }, 0)
    expect(o.flush(1_000, alive())).toEqual({ sends: [], wakeAt: 5_000 })
    expect(events).toEqual([]) // the producer waits: its input stays unacked
    o.setGraph(buildGraph([spec('a', ['t'], ['p1']), spec('late', ['later'], ['p2'])]))
    const { sends } = o.flush(2_000, alive())
    expect(sends.map(s => [s.stage, s.peer, s.packets.map(p => p.id)])).toEqual([['late', 'p2', ['x']]])
    expect(events).toEqual(['sent x'])
    o.ack('p2', 'late', [sends[0].batch])
    expect(events).toEqual(['sent x', 'acked x'])
    // y's tag never found a consumer: dropped at the end of its hold, and its producer goes on.
    expect(o.flush(5_000, alive())).toMatchObject({ sends: [], dropped: 1 })
    expect(events).toEqual(['sent x', 'acked x', 'sent y', 'acked y'])
    expect(o.orphanCount).toBe(0)
  })

  it('holds at most `window` unacked packets per (stage, peer): back-pressure', () => {
    const o = outbox(2)
    let sent = 0
    for (let i = 0; i < 10; i++) o.submit([packet(`p${i}`)], { onSent: () => sent++ }, 0)
    const first = o.flush(0, alive())
    const b = first.sends.find(s => s.stage === 'b')
    expect(b?.packets.length).toBe(2) // one peer: its window
    expect(first.sends.filter(s => s.stage === 'a').reduce((n, s) => n + s.packets.length, 0)).toBe(4) // two peers
    expect(sent).toBe(2) // a packet counts as sent once every stage took it
    expect(o.flush(0, alive()).sends).toEqual([])
    o.ack('p3', 'b', [b?.batch ?? -1])
    const next = o.flush(1, alive())
    expect(next.sends.find(s => s.stage === 'b')?.packets.map(p => p.id)).toEqual(['p2', 'p3'])
  })

  it('routes again what a dead peer had not acked, keeping the ids', () => {
    const o = outbox(10)
    o.submit([packet('x'), packet('y')], {}, 0)
    const sends = o.flush(0, alive()).sends.filter(s => s.stage === 'a')
    const victim = sends[0].peer
    const lost = sends[0].packets.map(p => p.id)
    o.peerDead(victim, 5)
    const again = o.flush(5, alive([victim])).sends.filter(s => s.stage === 'a')
    expect(again.every(s => s.peer !== victim)).toBe(true)
    expect(again.flatMap(s => s.packets.map(p => p.id)).sort()).toEqual(lost.sort())
  })

  it('sends an overdue batch again to its live peer as a new batch, and routes it elsewhere once that peer is dead', () => {
    const o = outbox()
    o.setGraph(buildGraph([spec('c', ['u'], ['p1', 'p2'])]))
    o.submit([packet('x', { tag: 'u' })], {}, 0)
    const [first] = o.flush(0, alive()).sends
    const r = o.flush(999, alive())
    expect(r.sends).toEqual([])
    expect(r.wakeAt).toBe(1_000)
    const [again] = o.flush(1_000, alive()).sends
    expect(again).toEqual({ peer: first.peer, stage: 'c', batch: again.batch, packets: [first.packets[0]], again: [0] }) // flagged: its receiver looks it up
    expect(again.batch).not.toBe(first.batch)
    const other = first.peer === 'p1' ? 'p2' : 'p1'
    expect(o.flush(2_000, alive([first.peer])).sends.map(s => s.peer)).toEqual([other])
  })

  it('routes a nacked packet again after nackRetryMs; a stale nack is ignored', () => {
    const o = outbox()
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    o.submit([packet('x', { tag: 'u' })], {}, 0)
    const [first] = o.flush(0, alive()).sends
    o.nack('p9', 'c', first.batch, undefined, 0)
    expect(o.unackedCount).toBe(1)
    o.nack('p1', 'c', first.batch, undefined, 10)
    expect(o.unackedCount).toBe(0)
    expect(o.flush(50, alive())).toEqual({ sends: [], wakeAt: 110 })
    expect(o.flush(110, alive()).sends.map(s => s.peer)).toEqual(['p1'])
    o.nack('p1', 'c', first.batch, ['x'], 120) // the first batch's: stale
    expect(o.unackedCount).toBe(1)
  })

  it('settles a packet acked by a peer it went to before a re-route (a late ack of the old batch)', () => {
    const o = outbox()
    let acked = false
    o.setGraph(buildGraph([spec('c', ['u'], ['p1', 'p2'])]))
    o.submit([packet('x', { tag: 'u' })], { onAcked: () => { acked = true } }, 0)
    const [first] = o.flush(0, alive()).sends
    o.peerDead(first.peer, 1)
    o.ack(first.peer, 'c', [first.batch])
    expect(acked).toBe(true)
    expect(o.flush(2, alive([first.peer])).sends).toEqual([])
    expect(o.batchCount).toBe(0)
  })

  it('a late ack of an overdue batch settles its packets sent again, and its new batch leaves', () => {
    const o = outbox()
    let acked = false
    o.setGraph(buildGraph([spec('c', ['u'], ['p1'])]))
    o.submit([packet('x', { tag: 'u' })], { onAcked: () => { acked = true } }, 0)
    const [first] = o.flush(0, alive()).sends
    const [again] = o.flush(1_000, alive()).sends
    o.ack('p1', 'c', [first.batch])
    expect(acked).toBe(true)
    expect(o.unackedCount + o.pendingCount).toBe(0)
    expect(o.batchCount).toBe(0)
    o.ack('p1', 'c', [again.batch]) // the copy's ack: nothing left to settle
    expect(o.flush(5_000, alive()).sends).toEqual([])
  })
})

describe('scale rules', () => {
  const base: ScaleInput = { now: 10_000, instances: 1, starting: 0, backlog: 0, maxInstances: 4, backlogPerInstance: 8, idleSince: [], idleMs: 1_000, active: true }
  it('keeps one instance, starts more while the backlog grows, one at a time, up to the maximum', () => {
    expect(decideScale({ ...base, instances: 0 })).toEqual({ action: 'start' })
    expect(decideScale({ ...base, instances: 0, active: false })).toEqual({ action: 'none' })
    expect(decideScale({ ...base, backlog: 8 })).toEqual({ action: 'none' })
    expect(decideScale({ ...base, backlog: 9 })).toEqual({ action: 'start' })
    expect(decideScale({ ...base, backlog: 90, starting: 1 })).toEqual({ action: 'none' })
    expect(decideScale({ ...base, backlog: 90, instances: 4 })).toEqual({ action: 'none' })
    expect(decideScale({ ...base, instances: 0, notBefore: 10_001 })).toEqual({ action: 'none' })
  })
  it('stops the instance idle longest once past idleMs, keeping one', () => {
    expect(decideScale({ ...base, instances: 3, idleSince: [9_500, 8_000, 8_500] })).toEqual({ action: 'stop', index: 1 })
    expect(decideScale({ ...base, instances: 3, idleSince: [9_500] })).toEqual({ action: 'none' })
    expect(decideScale({ ...base, instances: 1, idleSince: [0] })).toEqual({ action: 'none' })
  })
})

describe('stage state', () => {
  it('follows the lifecycle events', () => {
    expect(applyEvent('running', 'pause')).toEqual({ state: 'paused' })
    expect(applyEvent('paused', 'resume')).toEqual({ state: 'running' })
    expect(applyEvent('paused', 'stop')).toEqual({ state: 'stopping' })
    expect(applyEvent('stopping', 'drained')).toEqual({ state: 'stopped', stopInstances: 'drain' })
    expect(applyEvent('running', 'kill')).toEqual({ state: 'stopped', stopInstances: 'kill', nackAll: true })
    expect(applyEvent('stopped', 'kill')).toEqual({ state: 'stopped' })
    expect(applyEvent('stopped', 'start')).toEqual({ state: 'running', startInstances: true })
    expect(applyEvent('stopped', 'resume')).toEqual({ state: 'stopped' })
    expect([accepts('paused'), accepts('stopping'), serves('paused'), serves('stopping')]).toEqual([true, false, false, true])
  })
})
