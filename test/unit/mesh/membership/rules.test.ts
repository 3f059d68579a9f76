import { describe, expect, it } from 'vitest'
import {
  expectedConfirmations, merge, pushPullIntervalMs, refutation, retransmitLimit, suspicionBounds, suspicionTimeout,
  type MemberRecord
} from '../../../../src/mesh/membership/rules.js'
import type { WireMember } from '../../../../src/mesh/membership/messages.js'
import type { MemberState } from '../../../../src/mesh/membership/index.js'

const NOW = 1_000_000
const meta = { http: 'http://b:1', roles: ['volume'] }

function held (state: MemberState, incarnation: number): MemberRecord {
  return { peerId: 'b', address: 'b:1', state, incarnation, meta, lastHeard: 0, changedAt: 0 }
}

function said (state: MemberState, incarnation: number, extra: Partial<WireMember> = {}): WireMember {
  return { peerId: 'b', address: 'b:1', state, incarnation, ...(state === 'alive' ? { meta } : { from: 'c' }), ...extra }
}

/** What merging `u` into `cur` does: the state and incarnation after it, and the event. */
function outcome (cur: MemberRecord | undefined, u: WireMember, viaSync = false): string {
  const r = merge(cur, u, NOW, viaSync)
  const after = r.record ?? cur
  return `${after === undefined ? 'unknown' : `${after.state}(${after.incarnation})`} ${r.event ?? '-'}${r.rebroadcast ? ' +gossip' : ''}`
}

describe('SWIM update ordering', () => {
  it.each([
    // held, update, result
    ['alive', 1, 'alive', 0, 'alive(1) -'],
    ['alive', 1, 'alive', 1, 'alive(1) -'],
    ['alive', 1, 'alive', 2, 'alive(2) - +gossip'],
    ['alive', 1, 'suspect', 0, 'alive(1) -'],
    ['alive', 1, 'suspect', 1, 'suspect(1) suspect +gossip'],
    ['alive', 1, 'suspect', 2, 'suspect(2) suspect +gossip'],
    ['alive', 1, 'dead', 0, 'alive(1) -'],
    ['alive', 1, 'dead', 1, 'dead(1) dead +gossip'],
    ['alive', 1, 'left', 1, 'left(1) leave +gossip'],
    // A stale or equal alive never clears a suspicion; only a higher incarnation (the refutation) does.
    ['suspect', 1, 'alive', 1, 'suspect(1) -'],
    ['suspect', 1, 'alive', 0, 'suspect(1) -'],
    ['suspect', 1, 'alive', 2, 'alive(2) alive +gossip'],
    ['suspect', 1, 'suspect', 0, 'suspect(1) -'],
    ['suspect', 1, 'dead', 1, 'dead(1) dead +gossip'],
    ['suspect', 1, 'left', 1, 'left(1) leave +gossip'],
    // Dead and left are final for their incarnation; a newer alive is the member back (a restart).
    ['dead', 3, 'alive', 3, 'dead(3) -'],
    ['dead', 3, 'suspect', 5, 'dead(3) -'],
    ['dead', 3, 'left', 5, 'dead(3) -'],
    ['dead', 3, 'alive', 4, 'alive(4) join +gossip'],
    ['left', 2, 'dead', 2, 'left(2) -'],
    ['left', 2, 'alive', 3, 'alive(3) join +gossip']
  ] as const)('%s(%i) + %s(%i) -> %s', (state, inc, uState, uInc, expected) => {
    expect(outcome(held(state, inc), said(uState, uInc))).toBe(expected)
  })

  it('introduces a member only from an update that carries its meta', () => {
    expect(outcome(undefined, said('alive', 0))).toBe('alive(0) join +gossip')
    expect(outcome(undefined, said('suspect', 0))).toBe('unknown -')
    expect(outcome(undefined, said('dead', 0))).toBe('unknown -')
    expect(outcome(undefined, said('suspect', 0, { meta }), true)).toBe('suspect(0) join +gossip')
  })

  it('reports new meta at a higher incarnation as an update, and confirmations of a suspicion', () => {
    expect(outcome(held('alive', 1), said('alive', 2, { meta: { ...meta, diskPercent: 40 } }))).toBe('alive(2) update +gossip')
    expect(outcome(held('alive', 1), said('alive', 2, { address: 'b:2' }))).toBe('alive(2) update +gossip')
    expect(merge(held('suspect', 1), said('suspect', 1, { from: 'd' }), NOW).confirm).toBe('d')
  })

  it('counts a dead member of a full-state exchange as suspect (the peer checks for itself)', () => {
    expect(outcome(held('alive', 1), said('dead', 1), true)).toBe('suspect(1) suspect +gossip')
  })

  it('moves lastHeard on current news of a live member only', () => {
    expect(merge(held('alive', 1), said('alive', 1), NOW).heard).toBe(true)
    expect(merge(held('alive', 1), said('alive', 0), NOW).heard).toBeUndefined()
    expect(merge(held('dead', 1), said('alive', 1), NOW).heard).toBeUndefined()
    expect(merge(held('alive', 1), said('alive', 2), NOW).record?.lastHeard).toBe(NOW)
  })
})

describe('refutation', () => {
  const self: MemberRecord = { ...held('alive', 2), peerId: 'a', address: 'a:1' }
  const about = (state: MemberState, incarnation: number, extra: Partial<WireMember> = {}): WireMember =>
    ({ ...said(state, incarnation), peerId: 'a', address: 'a:1', ...(state === 'alive' ? { meta } : {}), ...extra })

  it('answers a suspicion or a death at its incarnation or above with a higher one', () => {
    expect(refutation(self, about('suspect', 2), false)).toBe(3)
    expect(refutation(self, about('dead', 2), false)).toBe(3)
    expect(refutation(self, about('suspect', 7), false)).toBe(8)
    expect(refutation(self, about('left', 2), false)).toBe(3)
  })

  it('climbs above what others hold after a restart, and republishes a changed address or meta', () => {
    const restarted = { ...self, incarnation: 0 }
    expect(refutation(restarted, about('alive', 5), false)).toBe(6)
    expect(refutation(restarted, about('dead', 5), false)).toBe(6)
    expect(refutation(self, about('alive', 2, { address: 'a:9' }), false)).toBe(3)
    expect(refutation(self, about('alive', 2, { meta: { http: '', roles: [] } }), false)).toBe(3)
  })

  it('ignores older news, its own current alive, and everything while leaving', () => {
    expect(refutation(self, about('suspect', 1), false)).toBeUndefined()
    expect(refutation(self, about('alive', 2), false)).toBeUndefined()
    expect(refutation(self, about('dead', 9), true)).toBeUndefined()
  })
})

describe('Lifeguard timeouts and dissemination limits', () => {
  it('scales the suspicion timeout with the cluster size, floored at the minimum', () => {
    expect(suspicionBounds(5, 200, 4, 1000, 3)).toEqual({ minMs: 1000, maxMs: 3000 })
    expect(suspicionBounds(200, 200, 4, 1000, 3).minMs).toBe(Math.round(4 * Math.log10(201) * 200))
    expect(suspicionBounds(1000, 200, 4, 1000, 3).minMs).toBe(2400)
  })

  it('shrinks from max to min as independent confirmations arrive', () => {
    const k = expectedConfirmations(5, 4)
    expect(k).toBe(2)
    const t = [0, 1, 2, 3].map(c => suspicionTimeout(1000, 3000, k, c))
    expect(t[0]).toBe(3000)
    expect(t[1]).toBeLessThan(t[0])
    expect(t[2]).toBe(1000)
    expect(t[3]).toBe(1000)
    // Too few others to confirm: straight to the minimum.
    expect(expectedConfirmations(3, 4)).toBe(0)
    expect(suspicionTimeout(1000, 3000, 0, 0)).toBe(1000)
  })

  it('retransmits each update mult x ceil(log10(n + 1)) times and stretches push-pull past 32 members', () => {
    expect(retransmitLimit(4, 5)).toBe(4)
    expect(retransmitLimit(4, 5, 8)).toBe(8)
    expect(retransmitLimit(4, 200)).toBe(12)
    expect(retransmitLimit(4, 1000)).toBe(16)
    expect(pushPullIntervalMs(15_000, 32, 32)).toBe(15_000)
    expect(pushPullIntervalMs(15_000, 64, 32)).toBe(30_000)
    expect(pushPullIntervalMs(15_000, 1000, 32)).toBe(90_000)
  })
})
