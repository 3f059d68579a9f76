import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { isPmzError } from '../../../src/common/errors.js'
import { HybridLogicalClock, encodeHlc } from '../../../src/common/hlc.js'
import { createLogger } from '../../../src/common/logger.js'
import { MemoryNetwork, type Message, type MemoryTransport } from '../../../src/mesh/transport/index.js'
import type { ReplicaEntry, ValueMeta } from '../../../src/store/record.js'
import type { ReplicaPut, ReplicaStore } from '../../../src/store/types.js'
import type { Target } from '../../../src/store/replication/placement.js'
import { ReplicaClient } from '../../../src/store/replication/replica-client.js'
import { serveReplica } from '../../../src/store/replication/replica-server.js'
import { STORE_COMMIT, STORE_ENTRY, STORE_FETCH, STORE_LIST, STORE_PREPARE, STORE_PUT, STORE_READ, STORE_STAGE, STORE_TOMBSTONE, STORE_UNSTAGE, STORE_LEASE } from '../../../src/store/replication/messages.js'
import type { LeaseGrants } from '../../../src/store/replication/leases.js'
import { asKey } from '../../../src/store/index.js'

const log = createLogger({ level: 'silent' })
const V1 = encodeHlc({ wall: 1_700_000_000_000, logical: 0, peerId: 'b' })
const entry: ReplicaEntry = { key: asKey('/k'), version: V1, deleted: false, deletedAt: null, size: 3, sha256: 'x', contentType: 'x', created: 1, expires: null }
const meta: ValueMeta = { key: asKey('/k'), size: 3, sha256: 'x', contentType: 'x', created: 1, expires: null, version: V1 }
const put: ReplicaPut = { version: V1, created: 1, expires: null, contentType: 'x' }
const b: Target = { peerId: 'b', address: 'b:1', isSelf: false, isAlive: true, http: '' }

const TYPES = [STORE_ENTRY, STORE_FETCH, STORE_READ, STORE_PUT, STORE_TOMBSTONE, STORE_PREPARE, STORE_STAGE, STORE_COMMIT, STORE_UNSTAGE, STORE_LIST, STORE_LEASE]

/** A local store of which the client only folds versions into a real HLC (which throws a TypeError on garbage); anything else is a bug here. */
function localStub (observed: string[]): ReplicaStore {
  const hlc = new HybridLogicalClock('a', systemClock)
  return new Proxy({} as ReplicaStore, {
    get: (_t, name) => name === 'observeVersion'
      ? (v: string) => { hlc.update(v); observed.push(v) }
      : () => { throw new Error(`local.${String(name)} called`) }
  })
}

/** Every way of asking `t` through the client, each named after the reply it expects. */
const CALLS: Array<[string, (c: ReplicaClient) => Promise<unknown>]> = [
  ['store.entry.reply', async c => await c.entry(b, asKey('/k'))],
  ['store.fetch.reply', async c => await c.fetch(b, asKey('/k'))],
  ['store.value', async c => await c.read(b, asKey('/k'))],
  ['store.applied', async c => await c.put(b, asKey('/k'), Buffer.from('abc'), put)],
  ['store.applied', async c => await c.put(b, asKey('/k'), Buffer.alloc(100 * 1024), put)],
  ['store.applied', async c => await c.tombstone(b, asKey('/k'), V1, 5)],
  ['store.staged', async c => await c.stage(b, asKey('/k'), (async function * () { yield Buffer.from('abc') })(), { created: 1, expires: null, contentType: 'x' })],
  ['store.applied', async c => await c.commit(b, asKey('/k'), 's1', put)],
  ['store.unstaged', async c => { await c.unstage(b, 's1') }],
  ['store.promise', async c => await c.prepare(b, asKey('/k'), V1)],
  ['store.list.reply', async c => await c.list('b:1', {})],
  ['store.lease.reply', async c => await c.lease(b, 'ring', null)]
]

/** For each reply type, one of the right type carrying garbage: a version that is no HLC wherever there is one. */
const GARBAGE: Record<string, Message> = {
  'store.entry.reply': { type: 'store.entry.reply', v: 1, entry: { ...entry, version: 'garbage' } },
  'store.fetch.reply': { type: 'store.fetch.reply', v: 1, entry: { ...entry, version: 'garbage' }, bytes: null },
  'store.value': { type: 'store.value', v: 1, meta: { ...meta, version: 'garbage' } },
  'store.applied': { type: 'store.applied', v: 1, applied: false, entry: null, promised: 'garbage' },
  'store.staged': { type: 'store.staged', v: 1, stageId: 's1', size: 'three', sha256: 'x' },
  'store.unstaged': { type: 'store.unstaged', v: 2 },
  'store.promise': { type: 'store.promise', v: 1, promised: true, ballot: 'garbage', entry: null },
  'store.list.reply': { type: 'store.list.reply', v: 1, items: [meta, { ...meta, size: null }] },
  'store.lease.reply': { type: 'store.lease.reply', v: 1, granted: true, id: 'g', ms: 2000, continued: true, changes: [['/k', 'garbage']] }
}

describe('ReplicaClient against a replica answering malformed replies', () => {
  const started: MemoryTransport[] = []
  afterEach(async () => { for (const t of started.splice(0)) await t.stop() })

  /** Peer `a`'s client, and peer `b` answering every store.* request with `answer(type)`. */
  async function pair (answer: (type: string) => Message): Promise<{ client: ReplicaClient, observed: string[] }> {
    const network = new MemoryNetwork()
    const a = network.createTransport('a')
    const liar = network.createTransport('b')
    for (const type of TYPES) {
      liar.handle(type, async req => {
        if (req.body !== undefined) for await (const _ of req.body) { /* drain */ }
        return answer(type)
      })
    }
    started.push(a, liar)
    await a.start()
    await liar.start()
    const observed: string[] = []
    return { client: new ReplicaClient(a, localStub(observed)), observed }
  }

  async function failure (p: Promise<unknown>): Promise<unknown> {
    try {
      await p
    } catch (err) {
      return isPmzError(err) ? { code: err.code, details: err.details } : err
    }
    return 'resolved'
  }

  it.each(CALLS)('a malformed %s (a version that is no HLC, a size that is no number…) rejects with ERR_REMOTE naming it and the replica, not a TypeError later', async (type, call) => {
    const { client, observed } = await pair(() => GARBAGE[type])
    const replica = type === 'store.list.reply' ? 'b:1' : 'b'
    expect(await failure(call(client))).toEqual({ code: 'ERR_REMOTE', details: { type, replica, got: type } })
    expect(observed).toEqual([]) // nothing of it reached the clock
  })

  it.each(CALLS)('a reply of the wrong type where a %s is due rejects with ERR_REMOTE', async (type, call) => {
    const { client } = await pair(() => ({ type: type === 'store.unstaged' ? 'store.applied' : 'store.unstaged', v: 1 }))
    expect(await failure(call(client))).toMatchObject({ code: 'ERR_REMOTE', details: { type } })
  })
})

describe('serveReplica given malformed requests', () => {
  it('answers each with ERR_BAD_REQUEST before the local store is touched', async () => {
    const network = new MemoryNetwork()
    const a = network.createTransport('a')
    const server = network.createTransport('b')
    const touched: string[] = []
    const local = new Proxy({} as ReplicaStore, { get: (_t, name) => () => { touched.push(String(name)); throw new Error('touched') } })
    const grants = new Proxy({} as LeaseGrants, { get: (_t, name) => () => { touched.push(`grants.${String(name)}`); throw new Error('touched') } })
    const refuse = (name: string) => () => { touched.push(name); throw new Error('touched') }
    const off = serveReplica(server, local, { grants, read: refuse('read'), promising: refuse('promising'), accepting: refuse('accepting'), learnt: refuse('learnt') }, log)
    await a.start()
    await server.start()
    try {
      const bad: Message[] = [
        { type: STORE_ENTRY, v: 1, key: 7 },
        { type: STORE_FETCH, v: 1 },
        { type: STORE_READ, v: 2, key: '/k' },
        { type: STORE_PUT, v: 1, key: '/k', put: { ...put, version: 'garbage' }, maxBytes: null, sizeHint: null, bytes: Buffer.from('abc') },
        { type: STORE_TOMBSTONE, v: 1, key: '/k', version: V1, deletedAt: 'now' },
        { type: STORE_PREPARE, v: 1, key: '/k', ballot: null },
        { type: STORE_STAGE, v: 1, key: '/k', fields: null, maxBytes: null, sizeHint: null },
        { type: STORE_COMMIT, v: 1, key: '/k', stageId: 's', put: { ...put, created: 'yesterday' } },
        { type: STORE_UNSTAGE, v: 1 },
        { type: STORE_LIST, v: 1, options: { limit: -1 } },
        { type: STORE_LEASE, v: 1, ring: 7, since: null }
      ]
      for (const msg of bad) {
        const code = await a.request('b:1', msg, { timeoutMs: 5_000 }).then(() => 'resolved', err => isPmzError(err) ? err.code : String(err))
        expect([msg.type, code]).toEqual([msg.type, 'ERR_BAD_REQUEST'])
      }
      expect(touched).toEqual([])
    } finally {
      off()
      await a.stop()
      await server.stop()
    }
  })
})
