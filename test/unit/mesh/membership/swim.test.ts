import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../../src/common/errors.js'
import type { WireMember } from '../../../../src/mesh/membership/messages.js'
import type { MemoryTransport } from '../../../../src/mesh/transport/index.js'
import { SimCluster } from './cluster.js'

const IDS = ['a', 'b', 'c', 'd', 'e']
const others = (id: string): string[] => IDS.filter(x => x !== id)

let cluster: SimCluster | undefined
afterEach(async () => { await cluster?.stopAll() })

async function fivePeers (opts: ConstructorParameters<typeof SimCluster>[0] = {}): Promise<SimCluster> {
  cluster = new SimCluster({ seed: 11, ...opts })
  await cluster.boot(IDS, { meta: { http: 'http://127.0.0.1:31414', roles: ['volume'] } })
  await cluster.run(2_000)
  return cluster
}

/** A raw transport on the same network, to put hand-made messages on the wire. */
async function injector (c: SimCluster): Promise<MemoryTransport> {
  const t = c.network.createTransport('x', { address: 'x:1' })
  await t.start()
  return t
}

const gossip = (updates: unknown[]): { type: string, v: number, cluster: string, updates: unknown[] } =>
  ({ type: 'swim.gossip', v: 1, cluster: 'pmz', updates })

describe('SWIM membership on a memory network', () => {
  it('joins, converges, and lists itself, the others and their meta', async () => {
    const c = await fivePeers()
    const a = c.get('a').membership
    expect(a.members().map(m => m.peerId).sort()).toEqual(IDS)
    expect(a.alive()).toHaveLength(5)
    expect(a.self()).toMatchObject({ peerId: 'a', address: 'a:1', state: 'alive', incarnation: 0, lastHeard: null })
    expect(a.get('b')).toMatchObject({ state: 'alive', meta: { http: 'http://127.0.0.1:31414', roles: ['volume'] } })
    expect(a.get('b')?.lastHeard).toBeGreaterThan(c.clock.now() - 2_000)
    for (const id of others('a')) expect(c.seen('join', id, 'a')).toHaveLength(1)
  })

  it('suspects a crashed peer, then declares it dead everywhere within 3 s, not before the suspicion timeout', async () => {
    const c = await fivePeers()
    const crashedAt = c.clock.now()
    await c.crash('e')
    const took = await c.until(() => others('e').every(id => c.get(id).membership.get('e')?.state === 'dead'), 10_000)
    expect(took).toBeLessThanOrEqual(3_000)
    for (const id of others('e')) {
      const [suspect] = c.seen('suspect', 'e', id)
      const [dead] = c.seen('dead', 'e', id)
      expect(suspect.at).toBeGreaterThan(crashedAt)
      // Whoever declared it dead waited out at least the minimum suspicion timeout (1 s in a small cluster).
      expect(dead.at - Math.min(...c.seen('suspect', 'e').map(s => s.at))).toBeGreaterThanOrEqual(1_000)
    }
    expect(c.falseDeaths).toBe(0)
    expect(c.get('a').membership.alive().map(m => m.peerId)).not.toContain('e')
  })

  it('lets a suspected member refute with a higher incarnation, alive again everywhere', async () => {
    const c = await fivePeers()
    const x = await injector(c)
    for (const id of IDS) x.send(`${id}:1`, gossip([{ peerId: 'b', address: 'b:1', state: 'suspect', incarnation: 0, from: 'x' }]))
    await c.run(5)
    for (const id of others('b')) expect(c.seen('suspect', 'b', id)).toHaveLength(1)
    await c.until(() => others('b').every(id => c.get(id).membership.get('b')?.incarnation === 1), 2_000)
    expect(c.get('b').membership.self().incarnation).toBe(1)
    for (const id of others('b')) expect(c.get(id).membership.get('b')?.state).toBe('alive')
    expect(c.seen('alive', 'b').length).toBeGreaterThanOrEqual(4)
    await c.run(5_000)
    expect(c.seen('dead', 'b')).toEqual([])
  })

  it('orders by incarnation: an alive no newer than a suspicion does not clear it; the refutation does', async () => {
    const c = await fivePeers()
    const x = await injector(c)
    const b = (state: string, incarnation: number): WireMember =>
      ({ peerId: 'b', address: 'b:1', state: state as WireMember['state'], incarnation, from: 'x', meta: { http: '', roles: [] } })
    x.send('a:1', gossip([b('suspect', 5), b('alive', 5), b('alive', 4)]))
    await c.run(2)
    expect(c.get('a').membership.get('b')).toMatchObject({ state: 'suspect', incarnation: 5 })
    // b hears of the suspicion through a's gossip and answers with 6, which overrides it.
    await c.until(() => c.get('a').membership.get('b')?.incarnation === 6, 2_000)
    expect(c.get('a').membership.get('b')?.state).toBe('alive')
    expect(c.get('b').membership.self().incarnation).toBe(6)
  })

  it('announces a graceful leave at once: leave everywhere, never dead, forgotten after the retention', async () => {
    const c = await fivePeers({ init: { deadRetentionMs: 10_000 } })
    const leftAt = c.clock.now()
    await c.leave('e')
    await c.until(() => others('e').every(id => c.seen('leave', 'e', id).length === 1), 500)
    expect(Math.max(...c.seen('leave', 'e').map(s => s.at)) - leftAt).toBeLessThanOrEqual(50)
    expect(c.get('a').membership.get('e')?.state).toBe('left')
    await c.run(12_000)
    expect(c.seen('dead', 'e')).toEqual([])
    expect(c.seen('suspect', 'e')).toEqual([])
    expect(c.get('a').membership.get('e')).toBeUndefined()
  })

  it('stop() returns only once members acknowledged the leave, so a transport closed right after loses nothing', async () => {
    const c = await fivePeers({ latencyMs: [20, 20] })
    const e = c.get('e')
    c.forget('e')
    let stopped = false
    const stopping = e.membership.stop().finally(() => { stopped = true })
    await c.run(1) // one-way messages would still be on the wire here
    expect(stopped).toBe(false)
    await c.until(() => stopped, 2_000)
    await stopping
    const told = others('e').filter(id => c.get(id).membership.get('e')?.state === 'left')
    expect(told.length).toBeGreaterThanOrEqual(1) // acknowledged before stop() returned
    await e.transport.stop() // the process exits: whatever it still had queued is gone
    await c.until(() => others('e').every(id => c.get(id).membership.get('e')?.state === 'left'), 1_000)
    await c.run(12_000)
    expect(c.seen('dead', 'e')).toEqual([])
    expect(c.seen('suspect', 'e')).toEqual([])
  })

  it('takes back a restarted peer with the same id: it climbs above the incarnation held for it', async () => {
    const c = await fivePeers()
    await c.crash('e')
    await c.until(() => others('e').every(id => c.get(id).membership.get('e')?.state === 'dead'), 10_000)
    const deadIncarnation = c.get('a').membership.get('e')?.incarnation ?? -1
    const restartedAt = c.clock.now()
    await c.add('e', { incarnation: 0 })
    c.propose('e', ['a:1'])
    await c.until(() => c.converged(5), 5_000)
    for (const id of others('e')) {
      expect(c.get(id).membership.get('e')?.state).toBe('alive')
      expect(c.get(id).membership.get('e')?.incarnation).toBeGreaterThan(deadIncarnation)
      expect(c.seen('join', 'e', id).filter(s => s.at >= restartedAt)).toHaveLength(1)
    }
    expect(c.get('e').membership.alive()).toHaveLength(5)
  })

  it('follows a peer restarted on a new address before anyone noticed it was gone', async () => {
    const c = await fivePeers()
    await c.crash('e')
    await c.add('e', { address: 'e:2' })
    c.propose('e', ['a:1'])
    await c.until(() => others('e').every(id => c.get(id).membership.get('e')?.address === 'e:2'), 3_000)
    await c.run(5_000)
    expect(c.seen('dead', 'e')).toEqual([])
    expect(c.converged(5)).toBe(true)
  })

  it('has the majority side declare a partitioned member dead, and merges again once healed', async () => {
    const c = await fivePeers()
    c.network.partition([['a:1', 'b:1', 'c:1', 'd:1'], ['e:1']])
    await c.until(() => others('e').every(id => c.get(id).membership.get('e')?.state === 'dead'), 5_000)
    // Lifeguard: e's own probes fail without nacks, so e slows down before it accuses the four others.
    await c.until(() => c.get('e').membership.alive().length === 1, 15_000)
    c.network.heal()
    // e is proposed a:1 again (discovery's static list) and everyone is told e refuted its death.
    await c.until(() => c.converged(5), 15_000)
    expect(c.get('a').membership.get('e')?.incarnation).toBeGreaterThan(0)
  })

  it('never lets a peer of another cluster name in, and logs it once per address', async () => {
    const c = await fivePeers({ logLevel: 'warn' })
    await c.add('z', { cluster: 'other' })
    c.propose('z', ['a:1'])
    c.get('a').membership.join(['z:1'])
    await c.run(20_000)
    for (const id of IDS) expect(c.get(id).membership.members().map(m => m.peerId)).not.toContain('z')
    expect(c.get('z').membership.members().map(m => m.peerId)).toEqual(['z'])
    const foreign = (id: string): unknown[] => c.get(id).logs.filter(l => l.msg === 'peer of another cluster ignored')
    expect(foreign('a')).toEqual([expect.objectContaining({ address: 'z:1', cluster: 'other' })])
    expect(foreign('z')).toEqual([expect.objectContaining({ address: 'a:1', cluster: 'pmz' })])
  })

  it('keeps a member alive through indirect probes when only the direct link to it is cut', async () => {
    const c = await fivePeers()
    c.network.block('a:1', 'b:1')
    await c.run(20_000)
    expect(c.seen('suspect', 'b')).toEqual([])
    expect(c.seen('dead', 'b')).toEqual([])
    await c.stopAll()
    // Without indirect probes, the same cut makes a suspect b (which refutes, since the others still hear it).
    const bare = await fivePeers({ init: { indirectProbes: 0 } })
    bare.network.block('a:1', 'b:1')
    await bare.run(20_000)
    expect(bare.seen('suspect', 'b', 'a').length).toBeGreaterThan(0)
  })

  it('ignores malformed messages (logged at debug) and rejects an unknown version', async () => {
    const c = await fivePeers({ logLevel: 'debug' })
    const x = await injector(c)
    const junk: unknown[] = [
      { type: 'swim.ping', v: 1, cluster: 'pmz' },
      { type: 'swim.ping', v: 2, cluster: 'pmz', seq: 1, target: 'a', updates: [] },
      { type: 'swim.ack', v: 1, cluster: 'pmz', seq: 'one', updates: [] },
      { type: 'swim.gossip', v: 1, cluster: 'pmz', updates: [{ peerId: 'b', state: 'dead' }] },
      { type: 'swim.gossip', v: 1, cluster: 'pmz', updates: null },
      { type: 'swim.ping-req', v: 1, cluster: 'pmz', seq: 1, target: 'b', targetAddress: 5, timeoutMs: 1, updates: [] },
      { type: 'swim.nack', v: 1, cluster: 7 }
    ]
    for (const m of junk) x.send('a:1', m as { type: string })
    await c.run(10)
    const reasons = c.get('a').logs.filter(l => l.msg === 'malformed membership message ignored').map(l => l.reason)
    expect(reasons).toHaveLength(junk.length)
    expect(reasons).toContain('unsupported version 2')
    const reply = x.request('a:1', { type: 'swim.sync', v: 9, cluster: 'pmz', join: true, members: [] }).catch((e: unknown) => e)
    await c.run(10)
    const err = await reply
    expect(isPmzError(err, 'ERR_BAD_REQUEST')).toBe(true)
    await c.run(5_000)
    expect(c.converged(5)).toBe(true)
    expect(c.seen('dead', 'b')).toEqual([])
  })

  it('spreads new meta with a higher incarnation as an update event', async () => {
    const c = await fivePeers()
    c.get('c').membership.updateMeta({ diskPercent: 42 })
    expect(c.get('c').membership.self()).toMatchObject({ incarnation: 1, meta: { diskPercent: 42, roles: ['volume'] } })
    await c.until(() => others('c').every(id => c.seen('update', 'c', id).length === 1), 1_000)
    expect(c.get('a').membership.get('c')?.meta.diskPercent).toBe(42)
  })

  it('ignores unreachable and known addresses in join, and stops cleanly', async () => {
    const c = await fivePeers()
    c.get('a').membership.join(['nowhere:1', 'a:1', 'b:1'])
    await c.run(5_000)
    expect(c.converged(5)).toBe(true)
    await c.stopAll()
    await c.run(1_000)
    expect(c.clock.pendingTimers()).toBe(0)
  })
})
