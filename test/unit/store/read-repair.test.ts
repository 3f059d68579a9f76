import { describe, expect, it, vi } from 'vitest'
import { encodeHlc } from '../../../src/common/hlc.js'
import { createLogger } from '../../../src/common/logger.js'
import type { ReplicaEntry } from '../../../src/store/record.js'
import { MAX_CONCURRENT_REPAIRS } from '../../../src/store/replication/constants.js'
import type { Target } from '../../../src/store/replication/placement.js'
import { ReadRepair, newestOf, type SurveyAnswer } from '../../../src/store/replication/read-repair.js'
import type { ReplicaClient } from '../../../src/store/replication/replica-client.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { asKey } from '../../../src/store/index.js'

const KEY = '/rr/k'
const target = (peerId: string, isSelf = false): Target => ({ peerId, address: isSelf ? '' : `${peerId}:1`, isSelf, isAlive: true, http: '' })
const A = target('a', true)
const B = target('b')
const C = target('c')
const D = target('d')

const v = (wall: number, logical = 0, peerId = 'a'): string => encodeHlc({ wall, logical, peerId })

function value (version: string, extra: Partial<ReplicaEntry> = {}): ReplicaEntry {
  return { key: asKey(KEY), version, deleted: false, deletedAt: null, size: 100, sha256: 'ab'.repeat(32), contentType: 'text/plain', created: 1, expires: null, ...extra }
}
function tombstone (version: string, deletedAt: number, extra: Partial<ReplicaEntry> = {}): ReplicaEntry {
  return { ...value(version), deleted: true, deletedAt, size: 0, ...extra }
}
const answer = (t: Target, entry: ReplicaEntry | undefined): SurveyAnswer => ({ target: t, entry })

interface Line { level: number, msg: string, key?: string }

/** A ReadRepair over a fake ReplicaClient whose copy and tombstone resolve at once unless a test says otherwise. */
function setup (): { repair: ReadRepair, client: { copy: ReturnType<typeof vi.fn>, tombstone: ReturnType<typeof vi.fn> }, clock: ManualClock, lines: Line[] } {
  const clock = new ManualClock()
  const lines: Line[] = []
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => { lines.push(JSON.parse(s) as Line) } } })
  const client = {
    copy: vi.fn(async () => ({ applied: true })),
    tombstone: vi.fn(async () => ({ applied: true }))
  }
  return { repair: new ReadRepair(client as unknown as ReplicaClient, clock, log), client, clock, lines }
}

describe('newestOf', () => {
  it('is the record with the highest HLC version, tombstones included, undefined when nobody holds one', () => {
    const old = value(v(1000))
    const newer = value(v(1000, 1))
    const newest = tombstone(v(2000, 0, 'b'), 2000)
    expect(newestOf([answer(A, old), answer(B, newest), answer(C, newer)])).toBe(newest)
    expect(newestOf([answer(A, undefined), answer(B, old), answer(C, newer)])).toBe(newer)
    // The peer id breaks a tie of wall clock and counter.
    const byB = value(v(1000, 1, 'b'))
    expect(newestOf([answer(A, byB), answer(B, newer)])).toBe(byB)
    expect(newestOf([answer(A, undefined), answer(B, undefined)])).toBeUndefined()
    expect(newestOf([])).toBeUndefined()
  })
})

describe('ReadRepair', () => {
  it('copies the newest value to replicas holding an older one or none, from the replicas that hold it', async () => {
    const { repair, client } = setup()
    const newest = value(v(2000), { size: 321 })
    const answers = [answer(A, newest), answer(B, value(v(1000))), answer(C, undefined), answer(D, { ...newest })]
    repair.schedule(asKey(KEY), answers, newestOf(answers))
    await repair.idle()
    expect(client.copy.mock.calls).toEqual([
      [KEY, [A, D], B, { version: newest.version }],
      [KEY, [A, D], C, { version: newest.version }]
    ])
    expect(client.tombstone).not.toHaveBeenCalled()
    expect(repair.repaired).toBe(2)
    expect(repair.repairedBytes).toBe(642)
  })

  it('pushes a newest tombstone as a tombstone, with its deletion time and origin, over older values and to replicas that hold nothing', async () => {
    const { repair, client } = setup()
    const newest = tombstone(v(3000, 0, 'c'), 2999, { origin: v(2500) })
    const answers = [answer(A, value(v(2000))), answer(B, undefined), answer(C, newest)]
    repair.schedule(asKey(KEY), answers, newestOf(answers))
    await repair.idle()
    expect(client.tombstone.mock.calls).toEqual([
      [A, KEY, newest.version, 2999, { origin: v(2500) }],
      [B, KEY, newest.version, 2999, { origin: v(2500) }]
    ])
    expect(client.copy).not.toHaveBeenCalled()
    expect(repair.repaired).toBe(2)
    expect(repair.repairedBytes).toBe(0)
  })

  it('repairs nothing when every replica holds the newest record, or when nobody holds one', async () => {
    const { repair, client } = setup()
    const e = value(v(2000))
    const same = [answer(A, e), answer(B, { ...e }), answer(C, { ...e })]
    repair.schedule(asKey(KEY), same, newestOf(same))
    const t = tombstone(v(2000), 5)
    const gone = [answer(A, t), answer(B, { ...t })]
    repair.schedule(asKey('/rr/t'), gone, newestOf(gone))
    const none = [answer(A, undefined), answer(B, undefined)]
    repair.schedule(asKey('/rr/none'), none, newestOf(none))
    await repair.idle()
    expect(client.copy).not.toHaveBeenCalled()
    expect(client.tombstone).not.toHaveBeenCalled()
    expect(repair.repaired).toBe(0)
  })

  it('does not copy a newest value that has expired (each replica drops it on its own)', async () => {
    const { repair, client, clock } = setup()
    const expired = value(v(2000), { expires: clock.now() - 1 })
    const answers = [answer(A, expired), answer(B, undefined)]
    repair.schedule(asKey(KEY), answers, newestOf(answers))
    await repair.idle()
    expect(client.copy).not.toHaveBeenCalled()
    expect(repair.repaired).toBe(0)
  })

  it('logs a failed repair rather than throwing it, and the key can be repaired again afterwards', async () => {
    const { repair, client, lines } = setup()
    client.copy.mockRejectedValueOnce(Object.assign(new Error('no holder'), { code: 'ERR_UNAVAILABLE' }))
    const answers = [answer(A, value(v(2000))), answer(B, undefined)]
    expect(() => { repair.schedule(asKey(KEY), answers, newestOf(answers)) }).not.toThrow()
    await repair.idle()
    expect(lines.filter(l => l.msg === 'read repair failed' && l.key === KEY)).toHaveLength(1)
    expect(repair.repaired).toBe(0)

    repair.schedule(asKey(KEY), answers, newestOf(answers))
    await repair.idle()
    expect(client.copy).toHaveBeenCalledTimes(2)
    expect(repair.repaired).toBe(1)
  })

  it('idle() waits for the repairs in flight; one repair per key at a time, at most MAX_CONCURRENT_REPAIRS in all', async () => {
    const { repair, client } = setup()
    await repair.idle() // nothing in flight: at once
    const releases: Array<() => void> = []
    client.copy.mockImplementation(async () => await new Promise(resolve => { releases.push(() => resolve({ applied: true })) }))
    const answersOf = (key: string): SurveyAnswer[] => [answer(A, { ...value(v(2000)), key: asKey(key) }), answer(B, undefined)]
    repair.schedule(asKey('/rr/0'), answersOf('/rr/0'), newestOf(answersOf('/rr/0')))
    // A second read of a key under repair does not start another.
    repair.schedule(asKey('/rr/0'), answersOf('/rr/0'), newestOf(answersOf('/rr/0')))
    expect(client.copy).toHaveBeenCalledTimes(1)
    for (let i = 1; i < MAX_CONCURRENT_REPAIRS + 5; i++) {
      const answers = answersOf(`/rr/${i}`)
      repair.schedule(asKey(`/rr/${i}`), answers, newestOf(answers))
    }
    expect(client.copy).toHaveBeenCalledTimes(MAX_CONCURRENT_REPAIRS)

    let idle = false
    const waiting = repair.idle().then(() => { idle = true })
    await new Promise(resolve => setImmediate(resolve))
    expect(idle).toBe(false)
    for (const release of releases.splice(0, releases.length - 1)) release()
    await new Promise(resolve => setImmediate(resolve))
    expect(idle).toBe(false)
    releases[0]()
    await waiting
    expect(repair.repaired).toBe(MAX_CONCURRENT_REPAIRS)
  })
})
