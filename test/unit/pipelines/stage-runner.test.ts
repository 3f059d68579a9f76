// The receiving half of per-batch delivery, on one StageRunner with a fake
// host: a batch is acked by its id once every packet of it is done, packets
// refused are nacked at once, and only a packet flagged as possibly seen
// before (or any, after a peer's death) is looked up, its outputs flagged in turn.
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../src/common/random.js'
import type { DeliveryHandlers } from '../../../src/pipelines/core/outbox.js'
import { StageRunner, type RunnerHost } from '../../../src/pipelines/stage-runner.js'
import type { Packet, StageInstance } from '../../../src/pipelines/types.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { packet, spec } from './fixtures.js'

interface Submitted { ids: string[], again?: readonly boolean[], handlers: DeliveryHandlers }

async function runner (inbox = 100): Promise<{ r: StageRunner, clock: ManualClock, ran: string[], submitted: Submitted[], replies: string[] }> {
  const clock = new ManualClock()
  const ran: string[] = []
  const submitted: Submitted[] = []
  const replies: string[] = []
  const instance: StageInstance = {
    stage: 's',
    run: async (p: Packet) => { ran.push(p.id); return { ok: true, emitted: [{ tag: 'out', payload: p.payload }] } },
    event: async () => ({ ok: true, emitted: [] }),
    stop: async () => {},
    onExit: () => {}
  }
  const host: RunnerHost = {
    peerId: 'p1',
    instanceHost: { start: async () => instance },
    clock,
    random: seededRandom(1),
    log: pino({ level: 'silent' }),
    submit: (packets, handlers, _only, again) => { submitted.push({ ids: packets.map(p => p.id), again, handlers }) },
    ackBatch: (to, _stage, batch) => { replies.push(`ack ${to} ${batch}`) },
    nack: (to, _stage, batch, id) => { replies.push(`nack ${to} ${batch} ${id}`) },
    prepare: packets => packets,
    load: async p => p,
    deadLetter: async () => {},
    newId: () => 'new',
    hasConsumers: () => true
  }
  const r = new StageRunner(spec('s', ['t'], ['p1'], { maxInstances: 1, inbox, produces: 'out' }), host, { agingMs: 1_000, defaultMaxInstances: 1 })
  r.tick()
  await clock.advanceAsync(1)
  return { r, clock, ran, submitted, replies }
}

/** Acks every submission so far (the outputs were acked downstream). */
function ackAll (submitted: Submitted[]): void {
  for (const s of submitted.splice(0)) { s.handlers.onSent?.(); s.handlers.onAcked?.() }
}

describe('stage runner: batches in', () => {
  it('acks a batch by its id once all its packets are done; refuses what the inbox cannot hold at once', async () => {
    const { r, clock, ran, submitted, replies } = await runner(2)
    r.receive('p9', 7, [packet('a'), packet('b'), packet('c'), packet('d')])
    // The inbox holds two: the others are refused at once, in one nack of the batch.
    expect(replies).toEqual(['nack p9 7 c', 'nack p9 7 d'])
    for (let i = 0; i < 5 && ran.length < 3; i++) { await clock.advanceAsync(1); ackAll(submitted) }
    await clock.advanceAsync(1)
    ackAll(submitted)
    expect(ran).toEqual(['a', 'b'])
    expect(replies).toEqual(['nack p9 7 c', 'nack p9 7 d', 'ack p9 7'])
  })

  it('a flagged copy of a packet done is acked without a run; outputs of an input looked up are flagged', async () => {
    const { r, clock, ran, submitted, replies } = await runner()
    r.receive('p9', 1, [packet('a'), packet('b')])
    await clock.advanceAsync(1)
    expect(submitted.map(s => s.again)).toEqual([undefined]) // first deliveries: their outputs are not flagged
    ackAll(submitted)
    r.receive('p9', 2, [packet('a'), packet('c')], [0]) // a comes again (flagged): known, not run
    await clock.advanceAsync(1)
    expect(ran).toEqual(['a', 'b', 'c'])
    // A flagged packet came: a copy may follow unflagged, so every packet is looked up (and its outputs flagged) for a while.
    expect(submitted.map(s => s.again)).toEqual([[true]])
    ackAll(submitted)
    expect(replies).toEqual(['ack p9 1', 'ack p9 2'])
  })

  it('after a peer died, looks every packet up, flagged or not, and flags their outputs', async () => {
    const { r, clock, ran, submitted } = await runner()
    r.receive('p9', 1, [packet('a')])
    await clock.advanceAsync(1)
    ackAll(submitted)
    r.suspect()
    r.receive('p8', 2, [packet('a'), packet('b')]) // a: made again by another peer, unflagged
    await clock.advanceAsync(1)
    expect(ran).toEqual(['a', 'b'])
    expect(submitted[0].again).toEqual([true])
  })
})
