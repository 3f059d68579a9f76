import { describe, expect, it } from 'vitest'
import type { ReplicaEntry } from '../../../src/store/record.js'
import { afterPrepare, backoffMs, decide, decideUndo, type PrepareRound } from '../../../src/store/replication/register-rules.js'
import type { PrepareResult } from '../../../src/store/types.js'
import { asKey } from '../../../src/store/index.js'

const NOW = 1_000_000

function value (version: string, origin?: string, extra: Partial<ReplicaEntry> = {}): ReplicaEntry {
  return { key: asKey('/k'), version, deleted: false, deletedAt: null, size: 1, sha256: 'x', contentType: 'a/b', created: 1, expires: null, ...(origin !== undefined ? { origin } : {}), ...extra }
}
const tomb = (version: string, origin?: string): ReplicaEntry => value(version, origin, { deleted: true, deletedAt: 5 })
const promise = (entry?: ReplicaEntry): PrepareResult => ({ promised: true, ballot: 'b9', entry })
const refusal = (ballot: string, entry?: ReplicaEntry): PrepareResult => ({ promised: false, ballot, entry })
/** Phase 1 over three replicas, q1 = q2 = 2, with these answers (and none failed unless told). */
const phase1 = (answers: PrepareResult[], more: Partial<PrepareRound> = {}): PrepareRound => ({ answers, failed: 0, asked: 3, q1: 2, q2: 2, now: NOW, ...more })

describe('register rules (CASPaxos change functions)', () => {
  it('create writes its value when the quorum holds none, or only a tombstone or an expired value', () => {
    for (const entries of [[undefined, undefined], [tomb('v2'), undefined], [value('v3', undefined, { expires: NOW - 1 }), undefined]]) {
      expect(decide({ type: 'create', origin: 'o1' }, entries, 2, NOW)).toMatchObject({ type: 'decided', outcome: 'written', accept: { type: 'mine' } })
    }
  })

  it('create answers exists for another write\'s live value, carrying it on first when fewer than W replicas showed it', () => {
    const other = value('v5', 'o0')
    expect(decide({ type: 'create', origin: 'o1' }, [other, other], 2, NOW)).toMatchObject({ outcome: 'exists', accept: { type: 'none' } })
    expect(decide({ type: 'create', origin: 'o1' }, [other, undefined], 2, NOW)).toMatchObject({ outcome: 'exists', accept: { type: 'carry', entry: other } })
  })

  it('create recognises its own value by origin, whatever version another proposer carried it under', () => {
    const mine = value('v7', 'o1')
    expect(decide({ type: 'create', origin: 'o1' }, [mine, mine], 2, NOW)).toMatchObject({ outcome: 'written', accept: { type: 'none' } })
    expect(decide({ type: 'create', origin: 'o1' }, [mine, value('v3', 'o0')], 2, NOW)).toMatchObject({ outcome: 'written', accept: { type: 'carry' } })
    // Without an origin field the version is the origin.
    expect(decide({ type: 'create', origin: 'v4' }, [value('v4'), value('v4')], 2, NOW)).toMatchObject({ outcome: 'written' })
  })

  it('the newest record of the quorum decides: an older live value under a newer tombstone is absent', () => {
    expect(decide({ type: 'create', origin: 'o1' }, [value('v1'), tomb('v2')], 2, NOW)).toMatchObject({ outcome: 'written', accept: { type: 'mine' } })
    expect(decide({ type: 'delete', origin: 'd1' }, [value('v1'), tomb('v2')], 2, NOW)).toMatchObject({ outcome: 'absent', accept: { type: 'none' } })
  })

  it('delete tombstones a live value, answers absent otherwise, and recognises its own tombstone', () => {
    expect(decide({ type: 'delete', origin: 'd1' }, [value('v1'), value('v1')], 2, NOW)).toMatchObject({ outcome: 'deleted', accept: { type: 'mine' } })
    expect(decide({ type: 'delete', origin: 'd1' }, [undefined, undefined], 2, NOW)).toMatchObject({ outcome: 'absent' })
    expect(decide({ type: 'delete', origin: 'd1' }, [tomb('v8', 'd1'), value('v1')], 2, NOW)).toMatchObject({ outcome: 'deleted', accept: { type: 'carry' } })
  })

  it('undo never touches another write\'s live value, and tombstones its own or an absent key', () => {
    expect(decide({ type: 'undo', origin: 'o1' }, [value('v9', 'o0'), undefined], 2, NOW)).toMatchObject({ outcome: 'undone', accept: { type: 'none' } })
    expect(decide({ type: 'undo', origin: 'o1' }, [value('v9', 'o1'), undefined], 2, NOW)).toMatchObject({ outcome: 'undone', accept: { type: 'mine' } })
    expect(decide({ type: 'undo', origin: 'o1' }, [undefined, undefined], 2, NOW)).toMatchObject({ outcome: 'undone', accept: { type: 'mine' } })
  })

  it('an undo takes back only a value that cannot be chosen: one on W replicas is written after all, one that may be is carried on', () => {
    const undo = { type: 'undo' as const, origin: 'o1' }
    const mine = value('v7', 'o1')
    expect(decideUndo(undo, [mine, mine, undefined], { unheard: 0, q2: 2, now: NOW })).toMatchObject({ outcome: 'written', accept: { type: 'none' } })
    // Seen once, one replica unheard: it may be on two, so it is carried on.
    expect(decideUndo(undo, [mine, undefined], { unheard: 1, q2: 2, now: NOW })).toMatchObject({ outcome: 'written', accept: { type: 'carry', entry: mine } })
    // Seen once and every replica heard: it is on one only, taken back with a tombstone.
    expect(decideUndo(undo, [mine, undefined, undefined], { unheard: 0, q2: 2, now: NOW })).toMatchObject({ outcome: 'undone', accept: { type: 'mine' } })
    // Another write's live value stays.
    expect(decideUndo(undo, [value('v9', 'o0'), mine, undefined], { unheard: 0, q2: 2, now: NOW })).toMatchObject({ outcome: 'undone', accept: { type: 'none' } })
    // Phase 1 of an undo waits for every replica asked.
    expect(afterPrepare(undo, phase1([promise(mine), promise()]))).toBeUndefined()
    expect(afterPrepare(undo, phase1([promise(mine), promise(), promise()]))).toMatchObject({ outcome: 'undone' })
  })

  it('phase 1 waits for its quorum, retries above a newer ballot, and is unavailable when too few can answer', () => {
    const create = { type: 'create' as const, origin: 'o1' }
    expect(afterPrepare(create, phase1([promise()]))).toBeUndefined()
    expect(afterPrepare(create, phase1([promise(), promise()]))).toMatchObject({ type: 'decided', outcome: 'written' })
    expect(afterPrepare(create, phase1([refusal('b5'), refusal('b7')]))).toEqual({ type: 'retry', ballot: 'b7' })
    expect(afterPrepare(create, phase1([promise()], { failed: 2 }))).toEqual({ type: 'unavailable', promised: 1 })
    // waitAll: the ring is not settled, so the third answer is awaited even with a quorum in.
    expect(afterPrepare(create, phase1([promise(), promise()], { waitAll: true }))).toBeUndefined()
    expect(afterPrepare(create, phase1([promise(), promise()], { failed: 1, waitAll: true }))).toMatchObject({ type: 'decided' })
  })

  it('phase 1 counts records in refused answers too, and waits for the rest before carrying a value on', () => {
    const create = { type: 'create' as const, origin: 'o1' }
    const other = value('v5', 'o0')
    expect(afterPrepare(create, phase1([promise(other), promise()]))).toBeUndefined()
    expect(afterPrepare(create, phase1([promise(other), promise(), refusal('b9', other)]))).toMatchObject({ outcome: 'exists', accept: { type: 'none' } })
    expect(afterPrepare(create, phase1([promise(other), promise(), promise()]))).toMatchObject({ outcome: 'exists', accept: { type: 'carry' } })
  })

  it('backs off with jitter, doubling up to the ceiling', () => {
    expect(backoffMs(1, () => 1, 5, 200)).toBe(5)
    expect(backoffMs(3, () => 1, 5, 200)).toBe(20)
    expect(backoffMs(10, () => 1, 5, 200)).toBe(200)
    expect(backoffMs(10, () => 0, 5, 200)).toBe(0)
  })
})
