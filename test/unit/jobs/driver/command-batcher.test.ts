import { describe, expect, it } from 'vitest'
import { CommandBatcher, type JobCommand, type JobOp } from '../../../../src/jobs/index.js'
import { cmd } from '../fixtures.js'

/** Runs the deferred flushes by hand. */
function harness (fail = false) {
  const sent: JobCommand[] = []
  const flushes: Array<() => void> = []
  const batcher = new CommandBatcher(async c => {
    sent.push(c)
    if (fail) throw new Error('no coordinator')
    const ops = c.type === 'batch' ? c.commands : [c]
    const outcomes = ops.map(op => ({ ok: true as const, changed: true, jobId: (op as { jobId: number }).jobId }))
    return { result: c.type === 'batch' ? outcomes : outcomes[0] }
  }, fn => flushes.push(fn))
  return { batcher, sent, flush: () => flushes.splice(0).forEach(f => f()) }
}

describe('CommandBatcher', () => {
  it('sends the commands of one turn as one batch and gives each its own outcome', async () => {
    const h = harness()
    const ops: JobOp[] = [cmd.cancel(1), cmd.cancel(2), cmd.cancel(3)] as JobOp[]
    const outcomes = ops.map(op => h.batcher.propose(op))
    h.flush()
    expect(await Promise.all(outcomes)).toMatchObject([{ jobId: 1 }, { jobId: 2 }, { jobId: 3 }])
    expect(h.sent).toEqual([{ type: 'batch', v: 1, commands: ops }])
  })

  it('sends a lone command as it is, and the next turn\'s commands in a new batch', async () => {
    const h = harness()
    const first = h.batcher.propose(cmd.cancel(1) as JobOp)
    h.flush()
    await first
    const second = h.batcher.propose(cmd.cancel(2) as JobOp)
    h.flush()
    expect(await second).toMatchObject({ jobId: 2 })
    expect(h.sent).toEqual([cmd.cancel(1), cmd.cancel(2)])
  })

  it('fails every command of a batch the coordinator did not take', async () => {
    const h = harness(true)
    const both = [h.batcher.propose(cmd.cancel(1) as JobOp), h.batcher.propose(cmd.cancel(2) as JobOp)].map(async p => await p.catch((e: Error) => e.message))
    h.flush()
    expect(await Promise.all(both)).toEqual(['no coordinator', 'no coordinator'])
  })
})
