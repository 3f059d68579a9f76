import { describe, expect, it } from 'vitest'
import { mayBootstrap, shouldBootstrap, type BootstrapCandidate, type BootstrapPolicy } from '../../../src/coordinator/bootstrap-rules.js'
import { seededRandom } from '../../../src/common/random.js'

const policy = (p: Partial<BootstrapPolicy> = {}): BootstrapPolicy => ({ expect: 1, joins: false, discovers: false, quietMs: 1_000, ...p })
const view = (selfId: string, candidates: BootstrapCandidate[], now = 5_000, changedAt = 0, hasLog = false) =>
  ({ selfId, now, changedAt, hasLog, candidates })
const peers = (...ids: string[]): BootstrapCandidate[] => ids.map(peerId => ({ peerId }))

describe('bootstrap rules (issue 13: exactly one coordinator cluster)', () => {
  it('a lone peer or a static seed bootstraps at once; a peer with a join list never does', () => {
    expect(shouldBootstrap(policy(), view('z', [], 0, 0))).toBe(true)
    expect(shouldBootstrap(policy(), view('z', peers('a', 'b'), 0, 0))).toBe(true) // they joined it
    expect(shouldBootstrap(policy({ joins: true }), view('a', [], 60_000))).toBe(false)
    expect(shouldBootstrap(policy({ joins: true, discovers: true }), view('a', peers('b'), 60_000))).toBe(false)
    expect(mayBootstrap(policy({ joins: true }))).toBe(false)
    expect(mayBootstrap(policy({ joins: true, expect: 3 }))).toBe(true)
  })

  it('never bootstraps beside a cluster or over its own log', () => {
    expect(shouldBootstrap(policy(), view('a', [{ peerId: 'b', clustered: true }]))).toBe(false)
    expect(shouldBootstrap(policy({ expect: 2 }), view('a', [{ peerId: 'b', clustered: true }]))).toBe(false)
    expect(shouldBootstrap(policy(), view('a', [], 5_000, 0, true))).toBe(false)
  })

  it('with discovery, waits for a quiet period, then only the lowest peer that may bootstrap does', () => {
    const p = policy({ discovers: true })
    expect(shouldBootstrap(p, view('b', peers('c'), 900, 0))).toBe(false)
    expect(shouldBootstrap(p, view('b', peers('c'), 2_000, 1_500))).toBe(false) // c appeared 500 ms ago
    expect(shouldBootstrap(p, view('b', peers('c'), 2_500, 1_500))).toBe(true)
    expect(shouldBootstrap(p, view('b', peers('a', 'c')))).toBe(false)
    // a has a join list: it will never bootstrap, so b does not wait for it.
    expect(shouldBootstrap(p, view('b', [{ peerId: 'a', bootstrapper: false }, { peerId: 'c' }]))).toBe(true)
  })

  it('with bootstrap_expect, the lowest bootstraps once enough peers are seen, join list or not', () => {
    const p = policy({ expect: 3, joins: true, discovers: true })
    expect(shouldBootstrap(p, view('a', peers('b'), 0, 0))).toBe(false)
    expect(shouldBootstrap(p, view('a', peers('b', 'c'), 0, 0))).toBe(true)
    expect(shouldBootstrap(p, view('b', peers('a', 'c'), 0, 0))).toBe(false)
  })

  it('with bootstrap_expect N and N peers, any partial views let at most one bootstrap (random views)', () => {
    const random = seededRandom(13)
    for (let trial = 0; trial < 2_000; trial++) {
      const n = 2 + Math.floor(random() * 6)
      const ids = Array.from({ length: n }, (_, i) => `p${String(Math.floor(random() * 1e6)).padStart(7, '0')}${i}`)
      const p = policy({ expect: n, joins: random() < 0.5, discovers: random() < 0.5 })
      const bootstrapped = ids.filter(self => shouldBootstrap(p, view(self, peers(...ids.filter(o => o !== self && random() < 0.7)))))
      expect(bootstrapped.length).toBeLessThanOrEqual(1)
    }
  })
})
