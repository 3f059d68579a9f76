import { PmzError } from '../common/errors.js'
import { MAX_KEY_BYTES, MAX_SEGMENT_BYTES } from './constants.js'

const SEGMENT = /^[A-Za-z0-9._~+|{}-]+$/
/** A whole valid key bar the length and dot-segment rules: the fast path every request takes. */
const KEY = /^(?:\/[A-Za-z0-9._~+|{}-]{1,255})+$/
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/
const URL_RESERVED = /[|{}]/

declare const KEY_BRAND: unique symbol

/**
 * A key that passed {@link parseKey} or {@link asKey}: a plain string at run
 * time, a distinct type at compile time, so that a key is validated once, where
 * it enters (HTTP, a mesh message, a backup, a seed), and every layer below
 * takes it as it is.
 */
export type Key = string & { readonly [KEY_BRAND]: true }

/** The fast path every valid key takes (the key pattern is ASCII only, so its length is its byte length); validateKey tells why a key fails. */
const passesAtOnce = (key: string): boolean => key.length <= MAX_KEY_BYTES && KEY.test(key) && !DOT_SEGMENT.test(key)

const invalid = (why: string): PmzError => new PmzError('ERR_KEY_INVALID', `invalid key: ${why}`, { details: { reason: why } })

/**
 * Turns the raw (still percent-encoded) path after a storage verb into a key
 * with its leading `/`, or throws ERR_KEY_INVALID. A superset of Pulzar's keys
 * (pulzar-api.md §3.1): segments of `[A-Za-z0-9._~+|{}-]`, 1-255 bytes each,
 * never `.` or `..`, no empty segment, at most 1024 bytes in all; escapes are
 * decoded once before the check.
 */
export function parseKey (rawPath: string): Key {
  let decoded: string
  try {
    decoded = decodeURIComponent(rawPath)
  } catch {
    throw invalid('malformed percent-escape')
  }
  const key = decoded.startsWith('/') ? decoded : `/${decoded}`
  return asKey(key)
}

/** `key` (with its leading `/`) as a {@link Key}, or ERR_KEY_INVALID. */
export function asKey (key: string): Key {
  validateKey(key)
  return key as Key
}

/** A key a seed's code names (`ctx.store`, a pipeline's store): as {@link asKey}, its leading `/` optional. */
export function seedKey (key: string): Key {
  return asKey(key.startsWith('/') ? key : `/${key}`)
}

/** A key the store reads back from its own tables: it was a {@link Key} when written. */
export function storedKey (key: string): Key {
  return key as Key
}

/** Whether `x` is a valid key (what arrives from another peer is checked with this). */
export function isKey (x: unknown): x is Key {
  if (typeof x !== 'string') return false
  if (passesAtOnce(x)) return true
  try {
    validateKey(x)
    return true
  } catch {
    return false
  }
}

/** Throws ERR_KEY_INVALID unless `key` (with its leading `/`) is a valid key. */
export function validateKey (key: string): asserts key is Key {
  if (passesAtOnce(key)) return
  if (!key.startsWith('/')) throw invalid('a key starts with /')
  if (key.length === 1) throw invalid('empty key')
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw invalid(`longer than ${MAX_KEY_BYTES} bytes`)
  const segments = key.slice(1).split('/')
  for (const s of segments) {
    if (s === '') throw invalid('empty segment')
    if (s === '.' || s === '..') throw invalid('. and .. are not allowed as segments')
    if (s.length > MAX_SEGMENT_BYTES) throw invalid(`segment longer than ${MAX_SEGMENT_BYTES} bytes`)
    if (!SEGMENT.test(s)) throw invalid('segments may hold only A-Z a-z 0-9 . _ ~ + | { } -')
  }
}

/** The key as a URL path (without the leading `/`), escaping what URLs reserve. */
export function keyToUrlPath (key: string): string {
  if (!URL_RESERVED.test(key)) return key.slice(1)
  return key.slice(1).split('/').map(s => s.replace(/[|{}]/g, c => encodeURIComponent(c))).join('/')
}
