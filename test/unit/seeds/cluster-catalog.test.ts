import { afterEach, describe, expect, it, vi } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import type { Member, MemberMeta, Membership, MembershipEvent } from '../../../src/mesh/membership/index.js'
import { digestOf } from '../../../src/seeds/catalog-messages.js'
import { createClusterCatalog, type CatalogEntry, type CatalogMesh, type ClusterCatalog, type Seed, type SeedCatalog } from '../../../src/seeds/index.js'
import { EMPTY_META } from '../../../src/seeds/seed-meta.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })
const entry = (name: string, hash = 'h'): CatalogEntry => ({ name, kind: 'module', hash, meta: { ...EMPTY_META } })

/** Membership as the catalog uses it: the alive members, their events, and this peer's meta. */
function fakeMembership () {
  const members = new Map<string, Member>()
  const listeners = new Set<(e: MembershipEvent) => void>()
  const published: Array<Partial<MemberMeta>> = []
  const membership = {
    peerId: 'self',
    alive: () => [...members.values()],
    on: (_e: string, fn: (e: MembershipEvent) => void) => { listeners.add(fn); return () => { listeners.delete(fn) } },
    updateMeta: (meta: Partial<MemberMeta>) => { published.push(meta) }
  } as unknown as Membership
  /** A member joins or changes its meta (type 'update'), or dies ('dead', removed from alive()). */
  const set = (peerId: string, meta: Partial<MemberMeta>, type: MembershipEvent['type'] = 'update'): void => {
    const member: Member = { peerId, address: `${peerId}:1`, state: 'alive', incarnation: 1, meta: { http: '', roles: ['worker'], ...meta }, lastHeard: 0 }
    if (type === 'dead') members.delete(peerId)
    else members.set(peerId, member)
    for (const fn of listeners) fn({ type, member })
  }
  return { membership, published, set }
}

/** The mesh: `answers` says what each address replies (a thrown error is a failed request). */
function fakeMesh (answers: Map<string, () => unknown>) {
  const handlers = new Map<string, (req: { msg: unknown }) => unknown>()
  const requests: string[] = []
  const mesh: CatalogMesh = {
    request: async (to) => {
      requests.push(to)
      const answer = answers.get(to)
      if (answer === undefined) throw new Error('unreachable')
      return { msg: answer() }
    },
    handle: (type, handler) => { handlers.set(type, handler as (req: { msg: unknown }) => unknown); return () => { handlers.delete(type) } }
  }
  return { mesh, handlers, requests }
}

const localSeeds = (seeds: Array<Partial<Seed>>): SeedCatalog => ({
  list: () => seeds.map(s => ({ path: `/s/${s.name}.mjs`, kind: 'module', hash: 'h', size: 1, mtimeMs: 1, exports: {}, ...s }) as Seed),
  on: () => () => {}
} as unknown as SeedCatalog)

const reply = (entries: CatalogEntry[]) => () => ({ type: 'seeds.catalog-reply', v: 1, digest: digestOf(entries), entries })

describe('MeshClusterCatalog', () => {
  const open: ClusterCatalog[] = []
  afterEach(async () => { for (const c of open.splice(0)) await c.stop() })

  async function make (answers: Map<string, () => unknown>, contribute = true, seeds: Array<Partial<Seed>> = [{ name: 'mine' }]) {
    const clock = new ManualClock()
    const m = fakeMembership()
    const net = fakeMesh(answers)
    const catalog = createClusterCatalog({ local: localSeeds(seeds), membership: m.membership, mesh: net.mesh, clock, log }, { contribute })
    await catalog.start()
    open.push(catalog)
    return { clock, catalog, ...m, ...net }
  }

  it('publishes its digest in member meta and serves its entries; refuses another version', async () => {
    const { published, handlers, catalog } = await make(new Map())
    expect(published).toEqual([{ seeds: { hash: expect.stringMatching(/^[0-9a-f]{16}$/), count: 1 } }])
    const answer = handlers.get('seeds.catalog')!({ msg: { type: 'seeds.catalog', v: 1 } }) as { entries: CatalogEntry[] }
    expect(answer.entries.map(e => e.name)).toEqual(['mine'])
    expect(catalog.list().map(s => [s.name, s.peers])).toEqual([['mine', ['self']]])
    let refused: unknown
    try { handlers.get('seeds.catalog')!({ msg: { type: 'seeds.catalog', v: 2 } }) } catch (err) { refused = err }
    expect(isPmzError(refused, 'ERR_BAD_REQUEST')).toBe(true)
  })

  it('a peer without the worker role lists others\' seeds, not its own', async () => {
    const answers = new Map([['w:1', reply([entry('theirs')])]])
    const { set, catalog, published } = await make(answers, false)
    expect(published).toEqual([])
    set('w', { seeds: digestOf([entry('theirs')]) })
    await vi.waitFor(() => expect(catalog.list().map(s => [s.name, s.peers])).toEqual([['theirs', ['w']]]))
  })

  it('fetches a worker\'s list when its digest changes, ignores non-workers, and drops a dead one', async () => {
    let entries = [entry('a')]
    const answers = new Map([['w:1', () => reply(entries)()], ['v:1', reply([entry('volume-only')])]])
    const { set, catalog, requests } = await make(answers)
    set('v', { roles: ['volume'], seeds: digestOf([entry('volume-only')]) })
    set('w', { seeds: digestOf(entries) })
    await vi.waitFor(() => expect(catalog.get('a')?.peers).toEqual(['w']))
    set('w', { seeds: digestOf(entries) }) // same digest: no new request
    entries = [entry('b')]
    set('w', { seeds: digestOf(entries) })
    await vi.waitFor(() => expect(catalog.list().map(s => s.name)).toEqual(['b', 'mine']))
    expect(requests).toEqual(['w:1', 'w:1'])
    set('w', {}, 'dead')
    expect(catalog.list().map(s => s.name)).toEqual(['mine'])
  })

  it('retries with backoff a peer that fails or answers garbage, until it answers', async () => {
    let answer: () => unknown = () => { throw new Error('down') }
    const { set, catalog, requests, clock } = await make(new Map([['w:1', () => answer()]]))
    set('w', { seeds: digestOf([entry('x')]) })
    // Ten refresh ticks of 1 s with every request failing: backoff 0.5, 1, 2, 4 s... not one request per tick.
    for (let i = 0; i < 10; i++) {
      await flush()
      clock.advance(1000)
    }
    await flush()
    expect(requests.length).toBeGreaterThanOrEqual(3)
    expect(requests.length).toBeLessThanOrEqual(6)
    answer = () => ({ type: 'seeds.catalog-reply', v: 1, digest: { hash: 'x', count: 1 }, entries: [{ name: 42 }] })
    const before = requests.length
    await vi.waitFor(async () => {
      clock.advance(1000)
      await flush()
      expect(requests.length).toBeGreaterThan(before)
    })
    expect(catalog.get('x')).toBeUndefined() // a malformed reply is refused
    answer = reply([entry('x')])
    await vi.waitFor(async () => {
      clock.advance(1000)
      await flush()
      expect(catalog.get('x')?.peers).toEqual(['w'])
    })
  })
})

/** Lets every pending promise callback run (one macrotask turn); not a timed wait. */
async function flush (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}
