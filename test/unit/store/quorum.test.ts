import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { quorumNotMet, waitQuorum, type QuorumOutcome } from '../../../src/store/replication/quorum.js'

/** A promise settled by hand, so a test decides the order replicas answer in. */
interface Deferred<T> { promise: Promise<T>, resolve: (v: T) => void, reject: (e: unknown) => void }
function deferred<T> (): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

/** The outcome if it has already come, 'pending' otherwise (after letting queued continuations run). */
async function peek<T> (p: Promise<T>): Promise<T | 'pending'> {
  return await Promise.race([p, new Promise<'pending'>(resolve => setImmediate(() => resolve('pending')))])
}

const failure = (code: string): Error & { code: string } => Object.assign(new Error(code), { code })

describe('waitQuorum', () => {
  it('resolves ok once w succeeded, without waiting for the rest', async () => {
    const ops = [deferred<string>(), deferred<string>(), deferred<string>()]
    const out = waitQuorum(ops.map(o => o.promise), 2)
    ops[0].resolve('a')
    expect(await peek(out)).toBe('pending')
    ops[2].resolve('c')
    expect(await peek(out)).toEqual({ ok: true, values: ['a', 'c'] })
  })

  it('resolves ok at once when nothing is needed', async () => {
    expect(await peek(waitQuorum([new Promise<number>(() => {})], 0))).toEqual({ ok: true, values: [] })
  })

  it('stops at the first value stopOn refuses, without counting it towards w', async () => {
    const ops = [deferred<number>(), deferred<number>(), deferred<number>()]
    const out = waitQuorum(ops.map(o => o.promise), 2, v => v < 0)
    ops[0].resolve(1)
    ops[1].resolve(-7)
    const got = await peek(out) as QuorumOutcome<number>
    expect(got).toEqual({ ok: false, values: [1], errors: [], stoppedBy: -7 })
    // Later successes change nothing.
    ops[2].resolve(3)
    expect(await out).toEqual(got)
  })

  it('fails as soon as so many failed that w can no longer be reached, with the errors collected', async () => {
    const ops = [deferred<string>(), deferred<string>(), deferred<string>()]
    const out = waitQuorum(ops.map(o => o.promise), 2)
    const e1 = failure('ERR_TIMEOUT')
    ops[1].reject(e1)
    expect(await peek(out)).toBe('pending') // 2 of 3 can still succeed
    const e2 = failure('ERR_UNAVAILABLE')
    ops[0].reject(e2)
    expect(await peek(out)).toEqual({ ok: false, values: [], errors: [e1, e2] })
    // A late success or failure of the op still running is swallowed.
    ops[2].reject(failure('ERR_LATE'))
    expect((await out).ok).toBe(false)
  })

  it('fails at once when there are fewer ops than w', async () => {
    const op = deferred<string>()
    expect(await peek(waitQuorum([op.promise], 2))).toEqual({ ok: false, values: [], errors: [] })
  })

  it('with all, waits for every op to settle and succeeds when at least w did', async () => {
    const ops = [deferred<string>(), deferred<string>(), deferred<string>()]
    const out = waitQuorum(ops.map(o => o.promise), 2, undefined, true)
    ops[0].resolve('a')
    ops[1].resolve('b')
    expect(await peek(out)).toBe('pending')
    const e = failure('ERR_TIMEOUT')
    ops[2].reject(e)
    expect(await peek(out)).toEqual({ ok: true, values: ['a', 'b'] })
  })

  it('with all, fails once everything settled with fewer than w successes', async () => {
    const ops = [deferred<string>(), deferred<string>(), deferred<string>()]
    const out = waitQuorum(ops.map(o => o.promise), 3, undefined, true)
    ops[0].resolve('a')
    const e = failure('ERR_TIMEOUT')
    ops[1].reject(e)
    expect(await peek(out)).toEqual({ ok: false, values: ['a'], errors: [e] })
  })

  it('reaches the same outcome whatever order the replicas answer in', async () => {
    // Two successes and a failure, W=2: ok with both values, however they interleave.
    const answers: Array<{ i: number, ok: boolean }> = [{ i: 0, ok: true }, { i: 1, ok: false }, { i: 2, ok: true }]
    const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]
    for (const order of orders) {
      const ops = answers.map(() => deferred<string>())
      const out = waitQuorum(ops.map(o => o.promise), 2)
      for (const at of order) {
        const a = answers[at]
        if (a.ok) ops[a.i].resolve(`v${a.i}`)
        else ops[a.i].reject(failure('ERR_TIMEOUT'))
        await peek(out)
      }
      const got = await out
      expect(got.ok, `order ${order.join(',')}`).toBe(true)
      expect([...got.values].sort()).toEqual(['v0', 'v2'])
    }
    // Two failures and a success: not met, whatever the order, with both errors.
    for (const order of orders) {
      const ops = answers.map(() => deferred<string>())
      const out = waitQuorum(ops.map(o => o.promise), 2)
      for (const at of order) {
        if (at === 0) ops[0].resolve('v0')
        else ops[at].reject(failure(`E${at}`))
        await peek(out)
      }
      const got = await out
      expect(got.ok, `order ${order.join(',')}`).toBe(false)
      if (!got.ok) expect(got.errors.map(e => (e as { code: string }).code).sort()).toEqual(['E1', 'E2'])
    }
  })
})

describe('quorumNotMet', () => {
  it('is a 503 ERR_QUORUM_NOT_MET carrying the acks, the quorum and the codes of the failures', () => {
    const err = quorumNotMet(1, 2, 'alive', [failure('ERR_TIMEOUT'), new Error('no code')])
    expect(isPmzError(err, 'ERR_QUORUM_NOT_MET')).toBe(true)
    expect(err.status).toBe(503)
    expect(err.details).toEqual({ acks: 1, quorum: 2, errors: ['ERR_TIMEOUT', 'ERR_INTERNAL'] })
  })
})
