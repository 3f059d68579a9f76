// A batch of packets (or of a stage's outputs) as columns: one array per
// field and the byte payloads in one buffer, so that a batch crosses a
// boundary (a stage's thread or process, the mesh) as a few arrays and one
// block of bytes rather than as an object, a map and a buffer per packet:
// structured clone and msgpack then do per-batch work, and the receiver
// makes each payload a view into the one buffer. Pure.
import { PmzError } from '../common/errors.js'
import { MAX_PRIORITY, MIN_PRIORITY, type Packet } from './types.js'

/** An output of a stage, or a packet's routing fields and payload. */
export interface Item { tag: string, key?: string, priority?: number, headers?: Record<string, string>, payload?: unknown }

/** Payload kinds in `sizes`, besides a byte length (>= 0). */
const JSON_PAYLOAD = -1
const NO_PAYLOAD = -2

export interface ItemColumns {
  n: number
  /** One tag for all, or one each. */
  tags: string | string[]
  /** Absent: no item has a key; null: this one has none. */
  keys?: Array<string | null>
  /** Absent: no item says; -1: this one does not. */
  prios?: number[]
  /** Absent: every item's headers are empty. */
  headers?: Array<Record<string, string> | null>
  /** Each payload: its byte length in `bytes` (in order), JSON_PAYLOAD (the next of `json`) or NO_PAYLOAD. */
  sizes: number[]
  json?: unknown[]
  /** The byte payloads one after the other, in a buffer of their own (it can be transferred). */
  bytes?: Uint8Array
}

export interface PacketColumns extends ItemColumns {
  ids: string[]
  bornAt: number[]
  /** Absent: no packet travels as a store key. */
  refs?: Array<string | null>
}

function isEmpty (o: Record<string, string>): boolean {
  for (const k in o) if (Object.hasOwn(o, k)) return false
  return true
}

/** Items as columns; their byte payloads copied into one new buffer. */
export function itemsToColumns (items: readonly Item[]): ItemColumns {
  const n = items.length
  const tag0 = n > 0 ? items[0].tag : ''
  let tags: string[] | undefined
  let keys: Array<string | null> | undefined
  let prios: number[] | undefined
  let headers: Array<Record<string, string> | null> | undefined
  let json: unknown[] | undefined
  const sizes = new Array<number>(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    const it = items[i]
    if (tags === undefined && it.tag !== tag0) tags = items.slice(0, i).map(x => x.tag)
    tags?.push(it.tag)
    if (it.key !== undefined) { keys ??= new Array<string | null>(n).fill(null); keys[i] = it.key }
    if (it.priority !== undefined) { prios ??= new Array<number>(n).fill(-1); prios[i] = it.priority }
    if (it.headers !== undefined && !isEmpty(it.headers)) { headers ??= new Array<Record<string, string> | null>(n).fill(null); headers[i] = it.headers }
    const p = it.payload
    if (p instanceof Uint8Array) { sizes[i] = p.byteLength; total += p.byteLength } else if (p === undefined) sizes[i] = NO_PAYLOAD
    else { sizes[i] = JSON_PAYLOAD; (json ??= []).push(p) }
  }
  const c: ItemColumns = { n, tags: tags ?? tag0, sizes }
  if (keys !== undefined) c.keys = keys
  if (prios !== undefined) c.prios = prios
  if (headers !== undefined) c.headers = headers
  if (json !== undefined) c.json = json
  if (total > 0) {
    const bytes = new Uint8Array(total)
    let at = 0
    for (let i = 0; i < n; i++) {
      if (sizes[i] <= 0) continue
      bytes.set(items[i].payload as Uint8Array, at)
      at += sizes[i]
    }
    c.bytes = bytes
  }
  return c
}

/** The items of `c`: byte payloads are Buffers viewing `c.bytes`. */
export function itemsFromColumns (c: ItemColumns): Item[] {
  const out = new Array<Item>(c.n)
  const payloads = new PayloadReader(c)
  for (let i = 0; i < c.n; i++) {
    const item: Item = { tag: typeof c.tags === 'string' ? c.tags : c.tags[i] }
    const key = c.keys?.[i]
    if (key !== undefined && key !== null) item.key = key
    const prio = c.prios?.[i]
    if (prio !== undefined && prio >= 0) item.priority = prio
    const h = c.headers?.[i]
    if (h !== undefined && h !== null) item.headers = h
    if (payloads.has(i)) item.payload = payloads.next(i)
    out[i] = item
  }
  return out
}

/**
 * The payloads of columns, read in order (i = 0, 1, …): a byte payload as a
 * Buffer viewing `c.bytes`, a JSON one as it is. `has(i)` is false for an
 * item without a payload (it gets no `payload` property).
 */
class PayloadReader {
  private at = 0
  private j = 0

  constructor (private readonly c: ItemColumns) {}

  has (i: number): boolean {
    return this.c.sizes[i] !== NO_PAYLOAD
  }

  next (i: number): unknown {
    const size = this.c.sizes[i]
    if (size === JSON_PAYLOAD) return this.c.json?.[this.j++]
    const bytes = this.c.bytes
    const payload = bytes === undefined ? Buffer.alloc(0) : Buffer.from(bytes.buffer, bytes.byteOffset + this.at, size)
    this.at += size
    return payload
  }
}

/** Packets as columns (their byte payloads copied into one new buffer). */
export function packetsToColumns (packets: readonly Packet[]): PacketColumns {
  const c = itemsToColumns(packets) as PacketColumns
  const n = packets.length
  c.ids = new Array<string>(n)
  c.bornAt = new Array<number>(n)
  for (let i = 0; i < n; i++) {
    const p = packets[i]
    c.ids[i] = p.id
    c.bornAt[i] = p.bornAt
    if (p.ref !== undefined) { c.refs ??= new Array<string | null>(n).fill(null); c.refs[i] = p.ref }
  }
  return c
}

/** The packets of `c` (byte payloads viewing `c.bytes`; headers `{}` when it had none): one object per packet, no item between. */
export function packetsFromColumns (c: PacketColumns): Packet[] {
  const out = new Array<Packet>(c.n)
  const payloads = new PayloadReader(c)
  const tags = c.tags
  for (let i = 0; i < c.n; i++) {
    const prio = c.prios?.[i]
    const h = c.headers?.[i]
    const p: Packet = { id: c.ids[i], tag: typeof tags === 'string' ? tags : tags[i], priority: prio !== undefined && prio >= 0 ? prio : MIN_PRIORITY, headers: h ?? {}, bornAt: c.bornAt[i] }
    const key = c.keys?.[i]
    if (key !== undefined && key !== null) p.key = key
    if (payloads.has(i)) p.payload = payloads.next(i)
    const ref = c.refs?.[i]
    if (ref !== undefined && ref !== null) p.ref = ref
    out[i] = p
  }
  return out
}

const bad = (what: string): PmzError => new PmzError('ERR_BAD_REQUEST', `pipe message: bad ${what}`)
const isStr = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= 1024
const column = (x: unknown, n: number, ok: (v: unknown) => boolean, what: string): void => {
  if (x === undefined) return
  if (!Array.isArray(x) || x.length !== n) throw bad(what)
  for (const v of x) if (!ok(v)) throw bad(what)
}
const isHeaders = (h: unknown): boolean => {
  if (h === null) return true
  if (typeof h !== 'object' || Array.isArray(h)) return false
  for (const k in h) if (Object.hasOwn(h, k) && typeof (h as Record<string, unknown>)[k] !== 'string') return false
  return true
}

/** Packet columns that arrived from a peer, every column checked (lengths, types, the bytes adding up). Throws ERR_BAD_REQUEST. */
export function checkPacketColumns (x: unknown): PacketColumns {
  if (x === null || typeof x !== 'object') throw bad('packets')
  const c = x as Record<string, unknown>
  const n = c.n
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad('packet count')
  if (typeof c.tags === 'string') {
    if (!isStr(c.tags)) throw bad('packet tag')
  } else column(c.tags ?? null, n, isStr, 'packet tags')
  column(c.ids ?? null, n, isStr, 'packet ids')
  column(c.bornAt ?? null, n, v => typeof v === 'number' && Number.isFinite(v), 'packet bornAt')
  column(c.keys, n, v => v === null || typeof v === 'string', 'packet keys')
  column(c.prios, n, v => Number.isInteger(v) && (v as number) >= MIN_PRIORITY && (v as number) <= MAX_PRIORITY, 'packet priorities')
  column(c.headers, n, isHeaders, 'packet headers')
  column(c.refs, n, v => v === null || isStr(v), 'packet refs')
  let total = 0
  let jsons = 0
  column(c.sizes ?? null, n, v => {
    if (!Number.isSafeInteger(v) || (v as number) < NO_PAYLOAD) return false
    if ((v as number) >= 0) total += v as number
    else if (v === JSON_PAYLOAD) jsons++
    return true
  }, 'payload sizes')
  if (total > 0 ? !(c.bytes instanceof Uint8Array) || c.bytes.byteLength !== total : c.bytes !== undefined && !(c.bytes instanceof Uint8Array)) throw bad('payload bytes')
  if (jsons > 0 ? !Array.isArray(c.json) || c.json.length !== jsons : c.json !== undefined && !Array.isArray(c.json)) throw bad('json payloads')
  return c as unknown as PacketColumns
}
