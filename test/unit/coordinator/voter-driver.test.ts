import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import { pino } from 'pino'
import { VoterDriver } from '../../../src/coordinator/index.js'
import type { Member, Membership, MembershipEvent } from '../../../src/mesh/membership/types.js'
import { TestCluster } from './cluster.js'

/** Just enough of Membership for the driver: a fixed view plus events. */
function fakeMembership (self: string, ids: string[]): Membership & { metaOf: Record<string, unknown>, emit: (e: MembershipEvent) => void } {
  const events = new EventEmitter()
  const member = (id: string): Member => ({ peerId: id, address: `${id}:1`, state: 'alive', incarnation: 1, meta: { http: '', roles: ['coordinator'] }, lastHeard: null })
  const fake = {
    peerId: self,
    metaOf: {} as Record<string, unknown>,
    members: () => ids.map(member),
    on: (_event: string, fn: (e: MembershipEvent) => void) => { events.on('peer:change', fn); return () => { events.off('peer:change', fn) } },
    updateMeta: (meta: Record<string, unknown>) => { Object.assign(fake.metaOf, meta) },
    emit: (e: MembershipEvent) => { events.emit('peer:change', e) }
  }
  return fake as unknown as Membership & { metaOf: Record<string, unknown>, emit: (e: MembershipEvent) => void }
}

let cluster: TestCluster | undefined
const drivers: VoterDriver[] = []
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.stop()
  await cluster?.stopAll()
  cluster = undefined
})

describe('VoterDriver', () => {
  it('bootstraps on the lowest peer, then the leader adds the others as voters one at a time', async () => {
    const ids = ['a', 'b', 'c']
    cluster = new TestCluster({ ids, voters: [] })
    await cluster.startAll()
    const memberships = new Map(ids.map(id => [id, fakeMembership(id, ids)]))
    for (const id of ids) {
      const d = new VoterDriver({ coordinator: cluster.co(id) as never, membership: memberships.get(id)!, clock: cluster.clock, log: pino({ level: 'silent' }) }, { bootstrapDelayMs: 2_000 })
      await d.start()
      drivers.push(d)
    }
    await cluster.advance(1_500)
    expect(ids.map(id => cluster!.co(id).status().lastIndex)).toEqual([0, 0, 0]) // still settling
    await cluster.until(() => Object.keys(cluster!.co('a').config().voters).length === 3, 5_000)
    expect(cluster.co('a').isLeader()).toBe(true)
    expect(memberships.get('a')!.metaOf.coordinatorTerm).toBe(cluster.co('a').term())
    await cluster.until(() => ids.every(id => cluster!.co(id).leader()?.peerId === 'a'), 2_000)
    // c dies: after the grace period the leader removes it.
    memberships.get('a')!.emit({ type: 'dead', member: { ...memberships.get('a')!.members()[2], state: 'dead' } })
    await cluster.crash('c')
    await cluster.until(() => Object.keys(cluster!.co('a').config().voters).length === 2, 40_000, 100)
    expect(Object.keys(cluster.co('a').config().voters).sort()).toEqual(['a', 'b'])
  })
})
