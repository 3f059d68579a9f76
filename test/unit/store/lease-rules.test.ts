import { describe, expect, it } from 'vitest'
import {
  ABSENT, ANY_HOLDER, LEASE_DRIFT, LEASE_MARGIN_MS, acceptReports, answersAlone, heldUntil, leaseDeadlines, markChosen, markWritten, type Grant
} from '../../../src/store/replication/lease-rules.js'

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

  it('an accept reports the unexpired grants to replicas of the key, not to its proposer', () => {
    expect(acceptReports(grants, facts)).toEqual([{ holder: 'a', ms: 1_000 }, { holder: 'b', ms: 500 }])
    expect(acceptReports(grants, { ...facts, from: 'a' })).toEqual([{ holder: 'b', ms: 500 }])
    expect(acceptReports(grants, { ...facts, replicas: ['b', 'x', 'y'] })).toEqual([{ holder: 'b', ms: 500 }])
    expect(acceptReports(grants, { ...facts, now: 2_000 })).toEqual([])
  })

  it('after the ring changed every unexpired grant is reported, replica or not: the holder may still count the key its own', () => {
    expect(acceptReports(grants, { ...facts, ring: 'r2', replicas: ['x', 'y', 'z'] })).toEqual([{ holder: 'a', ms: 1_000 }, { holder: 'b', ms: 500 }])
  })

  it('a grantor that may have forgotten its grants (restarted less than a lease ago) reports every replica', () => {
    expect(acceptReports([], { ...facts, forgetfulUntil: 1_700 })).toEqual([{ holder: ANY_HOLDER, ms: 700 }])
    expect(acceptReports([], { ...facts, forgetfulUntil: 1_000 })).toEqual([])
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
