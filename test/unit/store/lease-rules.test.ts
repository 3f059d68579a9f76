import { describe, expect, it } from 'vitest'
import {
  ABSENT, ANY_HOLDER, LEASE_DRIFT, LEASE_MARGIN_MS, LEASE_MAX_CHANGES, LEASE_MS, LEASE_RETAIN_MS, acceptReports, answersAlone, heldUntil, leaseDeadlines, markChosen, markWritten, type Grant
} from '../../../src/store/replication/lease-rules.js'
import { LeaseGrants } from '../../../src/store/replication/leases.js'
import { asKey } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const v1 = '000000000001.0000.a'
const v2 = '000000000002.0000.a'
const v3 = '000000000003.0000.a'

describe('read lease rules', () => {
  const grants: Grant[] = [
    { holder: 'a', until: 2_000, ring: 'r1' },
    { holder: 'b', until: 1_500, ring: 'r1' },
    { holder: 'c', until: 500, ring: 'r1' }
  ]
  const facts = { now: 1_000, ring: 'r1', replicas: ['a', 'b', 'x'], from: 'x', forgetfulUntil: 0 }

  it('an accept reports the running grants to replicas of the key, not to its proposer, and notes the write for them', () => {
    expect(acceptReports(grants, facts)).toEqual({ reports: [{ holder: 'a', ms: 1_000 }, { holder: 'b', ms: 500 }], note: ['a', 'b'] })
    expect(acceptReports(grants, { ...facts, from: 'a' })).toEqual({ reports: [{ holder: 'b', ms: 500 }], note: ['b'] })
    expect(acceptReports(grants, { ...facts, replicas: ['b', 'x', 'y'] })).toEqual({ reports: [{ holder: 'b', ms: 500 }], note: ['b'] })
  })

  it('a grant that ran out is no longer reported, but the write is noted for its holder until LEASE_RETAIN_MS after', () => {
    const replicas = ['a', 'b', 'c']
    expect(acceptReports(grants, { ...facts, replicas })).toEqual({ reports: [{ holder: 'a', ms: 1_000 }, { holder: 'b', ms: 500 }], note: ['a', 'b', 'c'] })
    expect(acceptReports(grants, { ...facts, replicas, now: 2_000 })).toEqual({ reports: [], note: ['a', 'b', 'c'] })
    expect(acceptReports(grants, { ...facts, replicas, now: 500 + LEASE_RETAIN_MS })).toEqual({ reports: [], note: ['a', 'b'] })
    expect(acceptReports(grants, { ...facts, replicas, now: 2_000 + LEASE_RETAIN_MS })).toEqual({ reports: [], note: [] })
  })

  it('after the ring changed every grant counts, replica or not: the holder may still count the key its own', () => {
    expect(acceptReports(grants, { ...facts, ring: 'r2', replicas: ['x', 'y', 'z'] })).toEqual({ reports: [{ holder: 'a', ms: 1_000 }, { holder: 'b', ms: 500 }], note: ['a', 'b', 'c'] })
  })

  it('a grantor that may have forgotten its grants (restarted less than a lease ago) reports every replica', () => {
    expect(acceptReports([], { ...facts, forgetfulUntil: 1_700 })).toEqual({ reports: [{ holder: ANY_HOLDER, ms: 700 }], note: [] })
    expect(acceptReports([], { ...facts, forgetfulUntil: 1_000 })).toEqual({ reports: [], note: [] })
  })

  it('a proposer waits per holder until the latest end reported, from its own now', () => {
    const d = leaseDeadlines([{ holder: 'a', ms: 300 }, { holder: 'a', ms: 800 }, { holder: 'b', ms: 100 }], 10_000)
    expect(Object.fromEntries(d)).toEqual({ a: 10_800, b: 10_100 })
  })

  it('a holder counts on a grant from when it asked, less the drift and the margin: never past the grantor\'s end', () => {
    expect(heldUntil(1_000, 2_000)).toBe(1_000 + 2_000 * (1 - LEASE_DRIFT) - LEASE_MARGIN_MS)
    // The grantor's grant started after the request left (>= 1_000) and lasts 2_000 on its clock.
    expect(heldUntil(1_000, 2_000)).toBeLessThan(1_000 + 2_000)
  })

  it('a copy answers alone only at the version marked chosen; a write known elsewhere sets a floor older reads cannot lift', () => {
    expect(answersAlone(undefined, v1)).toBe(false)
    let m = markChosen(undefined, v1)
    expect(answersAlone(m, v1)).toBe(true)
    expect(answersAlone(m, v2)).toBe(false)
    m = markWritten(m, v2)
    expect(answersAlone(m, v1)).toBe(false)
    expect(answersAlone(m, v2)).toBe(false)
    // A read begun before the write learns v1 is chosen: it does not lift the floor.
    m = markChosen(m, v1)
    expect(answersAlone(m, v1)).toBe(false)
    m = markChosen(m, v2)
    expect(answersAlone(m, v2)).toBe(true)
    // A write at or below the clean version changes nothing; a newer one sets its floor.
    expect(markWritten(m, v1)).toBe(m)
    expect(markWritten(m, v2)).toBe(m)
    expect(answersAlone(markWritten(m, v3), v2)).toBe(false)
  })

  it('absence is a version too: a key absent where a read looked answers 404 alone until a write', () => {
    const m = markChosen(undefined, ABSENT)
    expect(answersAlone(m, ABSENT)).toBe(true)
    expect(answersAlone(markWritten(m, v1), ABSENT)).toBe(false)
  })
})

describe('LeaseGrants (a grantor, manual clock)', () => {
  const key = asKey('/k')
  function grantor (clock = new ManualClock(0)): { g: LeaseGrants, clock: ManualClock } {
    let n = 0
    return { g: new LeaseGrants({ clock, ring: { fingerprint: () => 'r', preferenceList: () => ['a', 'b', 'c'] }, newId: () => `g${++n}` }), clock }
  }

  it('for a lease period after a restart, reports every replica: it cannot know whom it granted a lease before; a new peer granted none', () => {
    const fresh = grantor()
    expect(fresh.g.accepted(key, v1, 'b')).toBeUndefined()
    const { g, clock } = grantor()
    g.restarted()
    expect(g.accepted(key, v1, 'b')).toEqual([{ holder: ANY_HOLDER, ms: LEASE_MS }])
    clock.advance(LEASE_MS)
    expect(g.accepted(key, v1, 'b')).toBeUndefined()
  })

  it('refuses a holder on another ring; a grant continues the last one only when the holder names it, and hands over the writes noted since', () => {
    const { g, clock } = grantor()
    clock.advance(LEASE_MS)
    expect(g.grant('a', 'other', null).granted).toBe(false)
    const first = g.grant('a', 'r', null)
    expect(first).toMatchObject({ granted: true, continued: false, changes: [] })
    expect(g.accepted(key, v1, 'b')).toEqual([{ holder: 'a', ms: LEASE_MS }])
    expect(g.accepted(key, v2, 'a')).toBeUndefined() // a's own write: a knows it
    const second = g.grant('a', 'r', first.id)
    expect(second).toMatchObject({ continued: true, changes: [['/k', v1]] })
    // The reply to a third grant is lost: the next request names the second, and does not continue.
    g.accepted(key, v3, 'b')
    g.grant('a', 'r', second.id)
    expect(g.grant('a', 'r', second.id)).toMatchObject({ continued: false, changes: [] })
  })

  it('keeps noting writes after a grant ran out, for LEASE_RETAIN_MS: a lease that lapsed while idle continues', () => {
    const { g, clock } = grantor()
    clock.advance(LEASE_MS)
    const first = g.grant('a', 'r', null)
    clock.advance(LEASE_MS + 10_000)
    expect(g.accepted(key, v1, 'b')).toBeUndefined() // nothing to wait for: the lease ran out
    expect(g.grant('a', 'r', first.id)).toMatchObject({ continued: true, changes: [['/k', v1]] })
    clock.advance(LEASE_MS + LEASE_RETAIN_MS)
    g.accepted(key, v2, 'b')
    expect(g.grant('a', 'r', first.id)).toMatchObject({ continued: false })
  })

  it('past LEASE_MAX_CHANGES noted writes the next grant does not continue', () => {
    const { g, clock } = grantor()
    clock.advance(LEASE_MS)
    const first = g.grant('a', 'r', null)
    for (let i = 0; i <= LEASE_MAX_CHANGES; i++) g.accepted(key, v1, 'b')
    expect(g.grant('a', 'r', first.id)).toMatchObject({ continued: false, changes: [] })
  })
})
