import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { encodeHlc } from '../../../src/common/hlc.js'
import type { Message } from '../../../src/mesh/transport/index.js'
import type { ReplicaEntry, ValueMeta } from '../../../src/store/record.js'
import type { ReplicaPut } from '../../../src/store/types.js'
import { parseReply, parseRequest, type ReplicationReply, type ReplicationRequest } from '../../../src/store/replication/messages.js'
import { AE_V, parseAeReply } from '../../../src/store/replication/anti-entropy-messages.js'
import { asKey } from '../../../src/store/index.js'

const K = asKey('/k')
const V1 = encodeHlc({ wall: 1_700_000_000_000, logical: 0, peerId: 'a' })
const V2 = encodeHlc({ wall: 1_700_000_000_001, logical: 3, peerId: 'host-01.b' })
const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

const entry: ReplicaEntry = { key: K, version: V1, deleted: false, deletedAt: null, size: 3, sha256: SHA, contentType: 'text/plain', created: 1, expires: null }
const tomb: ReplicaEntry = { ...entry, deleted: true, deletedAt: 5, size: 0, sha256: '', contentType: '', origin: V2 }
const meta: ValueMeta = { key: K, size: 3, sha256: SHA, contentType: 'text/plain', created: 1, expires: 99, version: V1 }
const put: ReplicaPut = { version: V2, created: 1, expires: null, contentType: 'text/plain' }
const bytes = Buffer.from('abc')

/** One well-formed message of every request type, optional fields present and absent. */
const REQUESTS: ReplicationRequest[] = [
  { type: 'store.entry', v: 1, key: K },
  { type: 'store.fetch', v: 1, key: K },
  { type: 'store.fetch', v: 1, key: K, read: true },
  { type: 'store.read', v: 1, key: K },
  { type: 'store.put', v: 1, key: K, put, maxBytes: null, sizeHint: null },
  { type: 'store.put', v: 1, key: K, put: { ...put, sha256: SHA, origin: V1, accept: true }, maxBytes: 1.5 * 1024 * 1024, sizeHint: 3, bytes },
  { type: 'store.put', v: 1, key: K, put, maxBytes: 10, sizeHint: 3, bytes: null },
  { type: 'store.tombstone', v: 1, key: K, version: V1, deletedAt: 5 },
  { type: 'store.tombstone', v: 1, key: K, version: V1, deletedAt: 5, accept: true, origin: V2 },
  { type: 'store.prepare', v: 1, key: K, ballot: V2 },
  { type: 'store.stage', v: 1, key: K, fields: { created: 1, expires: 2, contentType: 'x', sha256: SHA }, maxBytes: null, sizeHint: 100 },
  { type: 'store.commit', v: 1, key: K, stageId: 's1', put },
  { type: 'store.unstage', v: 1, stageId: 's1' },
  { type: 'store.list', v: 1, options: {} },
  { type: 'store.list', v: 1, options: { prefix: '/a', after: '/a/b', limit: 10 } },
  { type: 'store.lease', v: 1, ring: 'f1', since: null },
  { type: 'store.put', v: 1, key: K, put, maxBytes: null, sizeHint: null, chosen: [[K, V1], [asKey('/other'), V2]] },
  { type: 'store.entry', v: 1, key: K, chosen: [] },
  { type: 'store.lease', v: 1, ring: 'f1', since: V1 }
]

/** One well-formed message of every reply type. */
const REPLIES: ReplicationReply[] = [
  { type: 'store.entry.reply', v: 1, entry },
  { type: 'store.entry.reply', v: 1, entry: null },
  { type: 'store.entry.reply', v: 1, entry: tomb },
  { type: 'store.fetch.reply', v: 1, entry, bytes },
  { type: 'store.fetch.reply', v: 1, entry: null, bytes: null },
  { type: 'store.fetch.reply', v: 1, entry, bytes, read: true },
  { type: 'store.value', v: 1, meta },
  { type: 'store.value', v: 1, meta: { ...meta, origin: V2 }, bytes },
  { type: 'store.applied', v: 1, applied: true, entry },
  { type: 'store.applied', v: 1, applied: false, entry: null, promised: V2 },
  { type: 'store.applied', v: 1, applied: true, entry, leases: [{ holder: 'a', ms: 1500 }, { holder: '*', ms: 3 }] },
  { type: 'store.promise', v: 1, promised: true, ballot: null, entry: null },
  { type: 'store.promise', v: 1, promised: false, ballot: V2, entry: tomb },
  { type: 'store.staged', v: 1, stageId: 's1', size: 0, sha256: SHA },
  { type: 'store.unstaged', v: 1 },
  { type: 'store.list.reply', v: 1, items: [] },
  { type: 'store.list.reply', v: 1, items: [meta, { ...meta, key: asKey('/l'), expires: null }] },
  { type: 'store.lease.reply', v: 1, granted: true, id: V2, ms: 2000, continued: true, changes: [[K, V1], [K, V2]] },
  { type: 'store.lease.reply', v: 1, granted: false, id: '', ms: 0, continued: false, changes: [] }
]

/** The code and details a parse throws with, or 'ok'. */
function outcome (parse: () => unknown): string | { code: string, details: unknown } {
  try {
    parse()
    return 'ok'
  } catch (err) {
    return isPmzError(err) ? { code: err.code, details: err.details } : `not a PmzError: ${String(err)}`
  }
}

const asMsg = (m: object): Message => m as unknown as Message

describe('parseRequest', () => {
  it.each(REQUESTS.map(m => [m.type, m] as const))('accepts a well-formed %s and returns it as is (no copy)', (type, m) => {
    expect(parseRequest(asMsg(m), type)).toBe(m)
  })

  it('accepts what crossed a structured clone (bytes arrive as a plain Uint8Array)', () => {
    for (const m of REQUESTS) expect(outcome(() => parseRequest(structuredClone(asMsg(m)), m.type))).toBe('ok')
  })

  const putReq = REQUESTS[4] as Extract<ReplicationRequest, { type: 'store.put' }>
  const bad: Array<[string, ReplicationRequest['type'], Record<string, unknown>]> = [
    ['entry without key', 'store.entry', { type: 'store.entry', v: 1 }],
    ['fetch with a numeric key', 'store.fetch', { type: 'store.fetch', v: 1, key: 7 }],
    ['fetch whose read is a string', 'store.fetch', { type: 'store.fetch', v: 1, key: '/k', read: 'yes' }],
    ['read with a null key', 'store.read', { type: 'store.read', v: 1, key: null }],
    ['read of a key without its leading /', 'store.read', { type: 'store.read', v: 1, key: 'k' }],
    ['put of a key with a dot segment', 'store.put', { ...putReq, key: '/a/../b' }],
    ['tombstone of a key with a space', 'store.tombstone', { type: 'store.tombstone', v: 1, key: '/a b', version: V1, deletedAt: 5 }],
    ['prepare of a key longer than 1024 bytes', 'store.prepare', { type: 'store.prepare', v: 1, key: `/${'k'.repeat(1024)}`, ballot: V2 }],
    ['put without put', 'store.put', { ...putReq, put: undefined }],
    ['put whose put is null', 'store.put', { ...putReq, put: null }],
    ['put whose version is no HLC', 'store.put', { ...putReq, put: { ...put, version: 'v1' } }],
    ['put whose version is a number', 'store.put', { ...putReq, put: { ...put, version: 1 } }],
    ['put whose created is a string', 'store.put', { ...putReq, put: { ...put, created: '1' } }],
    ['put whose created is NaN', 'store.put', { ...putReq, put: { ...put, created: Number.NaN } }],
    ['put whose expires is missing', 'store.put', { ...putReq, put: { ...put, expires: undefined } }],
    ['put whose contentType is missing', 'store.put', { ...putReq, put: { ...put, contentType: undefined } }],
    ['put whose sha256 is a number', 'store.put', { ...putReq, put: { ...put, sha256: 1 } }],
    ['put whose origin is no HLC', 'store.put', { ...putReq, put: { ...put, origin: 'x' } }],
    ['put whose accept is a string', 'store.put', { ...putReq, put: { ...put, accept: 'yes' } }],
    ['put with maxBytes missing', 'store.put', { ...putReq, maxBytes: undefined }],
    ['put with a negative maxBytes', 'store.put', { ...putReq, maxBytes: -1 }],
    ['put with sizeHint a string', 'store.put', { ...putReq, sizeHint: '3' }],
    ['put with bytes a string', 'store.put', { ...putReq, bytes: 'abc' }],
    ['put with bytes an array', 'store.put', { ...putReq, bytes: [97, 98, 99] }],
    ['tombstone without version', 'store.tombstone', { type: 'store.tombstone', v: 1, key: '/k', deletedAt: 5 }],
    ['tombstone with deletedAt null', 'store.tombstone', { type: 'store.tombstone', v: 1, key: '/k', version: V1, deletedAt: null }],
    ['tombstone with accept 1', 'store.tombstone', { type: 'store.tombstone', v: 1, key: '/k', version: V1, deletedAt: 5, accept: 1 }],
    ['tombstone with origin null', 'store.tombstone', { type: 'store.tombstone', v: 1, key: '/k', version: V1, deletedAt: 5, origin: null }],
    ['prepare without ballot', 'store.prepare', { type: 'store.prepare', v: 1, key: '/k' }],
    ['prepare with a truncated ballot', 'store.prepare', { type: 'store.prepare', v: 1, key: '/k', ballot: V1.slice(0, 10) }],
    ['stage without fields', 'store.stage', { type: 'store.stage', v: 1, key: '/k', maxBytes: null, sizeHint: null }],
    ['stage with fields lacking created', 'store.stage', { type: 'store.stage', v: 1, key: '/k', fields: { expires: null, contentType: 'x' }, maxBytes: null, sizeHint: null }],
    ['stage with sizeHint Infinity', 'store.stage', { type: 'store.stage', v: 1, key: '/k', fields: { created: 1, expires: null, contentType: 'x' }, maxBytes: null, sizeHint: Infinity }],
    ['commit without stageId', 'store.commit', { type: 'store.commit', v: 1, key: '/k', put }],
    ['commit with a bad put', 'store.commit', { type: 'store.commit', v: 1, key: '/k', stageId: 's', put: { ...put, expires: 'never' } }],
    ['unstage with a numeric stageId', 'store.unstage', { type: 'store.unstage', v: 1, stageId: 3 }],
    ['list without options', 'store.list', { type: 'store.list', v: 1 }],
    ['list with options an array', 'store.list', { type: 'store.list', v: 1, options: [] }],
    ['list with a fractional limit', 'store.list', { type: 'store.list', v: 1, options: { limit: 1.5 } }],
    ['list with a numeric prefix', 'store.list', { type: 'store.list', v: 1, options: { prefix: 1 } }],
    ['a message of another type', 'store.entry', { type: 'store.read', v: 1, key: '/k' }],
    ['lease without ring', 'store.lease', { type: 'store.lease', v: 1, since: null }],
    ['lease whose ring is a number', 'store.lease', { type: 'store.lease', v: 1, ring: 3, since: null }],
    ['lease without since', 'store.lease', { type: 'store.lease', v: 1, ring: 'f' }]
  ]
  it.each(bad)('refuses %s with ERR_BAD_REQUEST', (_name, type, m) => {
    expect(outcome(() => parseRequest(asMsg(m), type))).toEqual({ code: 'ERR_BAD_REQUEST', details: { type } })
  })

  it('refuses another version, or none, with ERR_BAD_REQUEST', () => {
    for (const v of [2, 0, undefined, '1']) {
      expect(outcome(() => parseRequest(asMsg({ type: 'store.entry', v, key: '/k' }), 'store.entry'))).toEqual({ code: 'ERR_BAD_REQUEST', details: { type: 'store.entry', v } })
    }
  })
})

describe('parseReply', () => {
  it.each(REPLIES.map(m => [m.type, m] as const))('accepts a well-formed %s and returns it as is (no copy)', (type, m) => {
    expect(parseReply(asMsg(m), type, 'b')).toBe(m)
  })

  it('accepts what crossed a structured clone', () => {
    for (const m of REPLIES) expect(outcome(() => parseReply(structuredClone(asMsg(m)), m.type, 'b'))).toBe('ok')
  })

  const bad: Array<[string, ReplicationReply['type'], Record<string, unknown>]> = [
    ['entry.reply without entry', 'store.entry.reply', { type: 'store.entry.reply', v: 1 }],
    ['entry.reply whose entry is a string', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: '/k' }],
    ['entry.reply whose version is no HLC', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, version: 'garbage' } }],
    ['entry.reply whose deleted is 0', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, deleted: 0 } }],
    ['entry.reply whose deletedAt is missing', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, deletedAt: undefined } }],
    ['entry.reply whose size is negative', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, size: -1 } }],
    ['entry.reply whose size is fractional', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, size: 1.5 } }],
    ['entry.reply whose sha256 is null', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, sha256: null } }],
    ['entry.reply whose expires is a string', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, expires: 'soon' } }],
    ['entry.reply whose origin is no HLC', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, origin: '' } }],
    ['fetch.reply without bytes', 'store.fetch.reply', { type: 'store.fetch.reply', v: 1, entry }],
    ['fetch.reply whose read is 1', 'store.fetch.reply', { type: 'store.fetch.reply', v: 1, entry, bytes: null, read: 1 }],
    ['fetch.reply whose bytes are a string', 'store.fetch.reply', { type: 'store.fetch.reply', v: 1, entry, bytes: 'abc' }],
    ['entry.reply whose entry has an invalid key', 'store.entry.reply', { type: 'store.entry.reply', v: 1, entry: { ...entry, key: '/a//b' } }],
    ['value whose meta has an invalid key', 'store.value', { type: 'store.value', v: 1, meta: { ...meta, key: '/.' } }],
    ['fetch.reply with a bad entry', 'store.fetch.reply', { type: 'store.fetch.reply', v: 1, entry: { ...entry, key: 1 }, bytes: null }],
    ['value without meta', 'store.value', { type: 'store.value', v: 1 }],
    ['value whose meta lacks a version', 'store.value', { type: 'store.value', v: 1, meta: { ...meta, version: undefined } }],
    ['value whose meta size is a string', 'store.value', { type: 'store.value', v: 1, meta: { ...meta, size: '3' } }],
    ['value whose meta created is null', 'store.value', { type: 'store.value', v: 1, meta: { ...meta, created: null } }],
    ['value whose bytes are an object', 'store.value', { type: 'store.value', v: 1, meta, bytes: {} }],
    ['applied without applied', 'store.applied', { type: 'store.applied', v: 1, entry: null }],
    ['applied whose entry is missing', 'store.applied', { type: 'store.applied', v: 1, applied: true }],
    ['applied whose promised is no HLC', 'store.applied', { type: 'store.applied', v: 1, applied: false, entry: null, promised: 'x' }],
    ['applied whose promised is null', 'store.applied', { type: 'store.applied', v: 1, applied: false, entry: null, promised: null }],
    ['promise without promised', 'store.promise', { type: 'store.promise', v: 1, ballot: null, entry: null }],
    ['promise whose ballot is missing', 'store.promise', { type: 'store.promise', v: 1, promised: true, entry: null }],
    ['promise whose ballot is no HLC', 'store.promise', { type: 'store.promise', v: 1, promised: true, ballot: 42, entry: null }],
    ['promise with a bad entry', 'store.promise', { type: 'store.promise', v: 1, promised: true, ballot: null, entry: { ...tomb, deletedAt: 'then' } }],
    ['staged without stageId', 'store.staged', { type: 'store.staged', v: 1, size: 0, sha256: SHA }],
    ['staged whose size is a string', 'store.staged', { type: 'store.staged', v: 1, stageId: 's', size: '0', sha256: SHA }],
    ['staged without sha256', 'store.staged', { type: 'store.staged', v: 1, stageId: 's', size: 0 }],
    ['list.reply without items', 'store.list.reply', { type: 'store.list.reply', v: 1 }],
    ['list.reply whose items are an object', 'store.list.reply', { type: 'store.list.reply', v: 1, items: { 0: meta } }],
    ['list.reply with one bad item', 'store.list.reply', { type: 'store.list.reply', v: 1, items: [meta, { ...meta, version: null }] }],
    ['list.reply with a null item', 'store.list.reply', { type: 'store.list.reply', v: 1, items: [null] }],
    ['applied whose leases are an object', 'store.applied', { type: 'store.applied', v: 1, applied: true, entry, leases: { holder: 'a', ms: 1 } }],
    ['applied with a lease of no holder', 'store.applied', { type: 'store.applied', v: 1, applied: true, entry, leases: [{ ms: 1 }] }],
    ['applied with a lease of negative ms', 'store.applied', { type: 'store.applied', v: 1, applied: true, entry, leases: [{ holder: 'a', ms: -1 }] }],
    ['lease.reply whose ms is a string', 'store.lease.reply', { type: 'store.lease.reply', v: 1, granted: true, id: 'g', ms: '2000', continued: true, changes: [] }],
    ['lease.reply without id', 'store.lease.reply', { type: 'store.lease.reply', v: 1, granted: true, ms: 2000, continued: true, changes: [] }],
    ['lease.reply without continued', 'store.lease.reply', { type: 'store.lease.reply', v: 1, granted: true, id: 'g', ms: 2000, changes: [] }],
    ['lease.reply with a change of an invalid key', 'store.lease.reply', { type: 'store.lease.reply', v: 1, granted: true, id: 'g', ms: 2000, continued: true, changes: [['k', V1]] }],
    ['lease.reply with a change whose version is no HLC', 'store.lease.reply', { type: 'store.lease.reply', v: 1, granted: true, id: 'g', ms: 2000, continued: true, changes: [[K, 'x']] }],
    ['a reply of another type', 'store.applied', { type: 'store.unstaged', v: 1 }],
    ['a reply of another version', 'store.unstaged', { type: 'store.unstaged', v: 2 }],
    ['a reply without version', 'store.unstaged', { type: 'store.unstaged' }]
  ]
  it.each(bad)('refuses %s with ERR_REMOTE naming the type and the replica', (_name, type, m) => {
    expect(outcome(() => parseReply(asMsg(m), type, 'b'))).toEqual({ code: 'ERR_REMOTE', details: { type, replica: 'b', got: m.type } })
  })
})

describe('parseAeReply', () => {
  const keysReply = (entries: unknown[]): Message => asMsg({ type: 'store.ae.keys.reply', v: AE_V, entries, last: null })

  it('accepts a listing of well-formed entries', () => {
    expect(outcome(() => parseAeReply(keysReply([entry, tomb]), 'store.ae.keys.reply'))).toBe('ok')
  })

  it.each([
    ['an invalid key', { ...entry, key: '/a/../b' }],
    ['a version that is no HLC', { ...entry, version: 'v1' }],
    ['no content type', { ...entry, contentType: undefined }]
  ])('refuses a listing with an entry of %s with ERR_REMOTE', (_name, bad) => {
    expect(outcome(() => parseAeReply(keysReply([entry, bad]), 'store.ae.keys.reply'))).toMatchObject({ code: 'ERR_REMOTE' })
  })
})
