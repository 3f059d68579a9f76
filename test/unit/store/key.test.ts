import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { asKey, isKey, keyToUrlPath, parseKey, seedKey } from '../../../src/store/index.js'

/** Whether `check` refuses its key with ERR_KEY_INVALID. */
const refuses = (check: () => unknown): boolean => {
  try {
    check()
    return false
  } catch (err) {
    return isPmzError(err, 'ERR_KEY_INVALID')
  }
}
const rejects = (raw: string): boolean => refuses(() => parseKey(raw))

describe('parseKey', () => {
  it('keeps the leading / and accepts a superset of Pulzar keys', () => {
    expect(parseKey('/a/b/c.txt')).toBe('/a/b/c.txt')
    expect(parseKey('c.txt')).toBe('/c.txt')
    for (const k of ['/v1.2/f.txt', '/my-file.txt', '/a~b/c+d', '/x|y/{z}', '/A_b/9']) expect(parseKey(k)).toBe(k)
  })

  it('decodes percent-escapes exactly once', () => {
    expect(parseKey('/a%2Fb')).toBe('/a/b')
    expect(parseKey('/%7Bx%7D')).toBe('/{x}')
    expect(rejects('/a%252Fb')).toBe(true) // decodes to /a%2Fb: % is not allowed
  })

  it('rejects empty keys and segments, dot segments, bad characters and long keys', () => {
    for (const k of ['/', '', '//a', '/a//b', '/a/', '/.', '/a/..', '/./a', '/a b', '/a%00b', '/a\u0001', '/caf\u00e9', '/a:b', '/a@b', '/a,b', '/50%', '/a%zz']) {
      expect(rejects(k), JSON.stringify(k)).toBe(true)
    }
    expect(rejects(`/${'x'.repeat(255)}`)).toBe(false)
    expect(rejects(`/${'x'.repeat(256)}`)).toBe(true)
    const long = `/${Array.from({ length: 5 }, () => 'y'.repeat(200)).join('/')}`
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(1024)
    expect(rejects(long)).toBe(false)
    expect(rejects(`${long}/zzzzzzzzzzzzzzzzzzzz`)).toBe(true)
  })

  it('turns a key back into a URL path', () => {
    expect(keyToUrlPath('/a/b|c/{d}.txt')).toBe('a/b%7Cc/%7Bd%7D.txt')
    expect(parseKey(`/${keyToUrlPath('/a/b|c/{d}.txt')}`)).toBe('/a/b|c/{d}.txt')
  })
})

describe('asKey and isKey (a key from a peer, a seed or a backup: taken as it is, no percent-decoding)', () => {
  const asKeyRejects = (k: string): boolean => refuses(() => asKey(k))

  it('take a key exactly when parseKey would give it back unchanged', () => {
    const samples = ['/a/b/c.txt', '/x|y/{z}', `/${'x'.repeat(255)}`, '/', '', 'a', '//a', '/a/', '/.', '/a/..', '/a b', '/caf\u00e9', '/a%2Fb', `/${'x'.repeat(256)}`]
    for (const k of samples) {
      const valid = !rejects(k) && parseKey(k) === k
      expect(isKey(k), JSON.stringify(k)).toBe(valid)
      expect(asKeyRejects(k), JSON.stringify(k)).toBe(!valid)
    }
    expect(asKey('/a/b')).toBe('/a/b')
    expect(isKey(7)).toBe(false)
    expect(isKey(null)).toBe(false)
  })

  it('seedKey takes a key a seed names with or without its leading /, and nothing asKey refuses beside that', () => {
    expect(seedKey('stage/key')).toBe('/stage/key')
    expect(seedKey('/stage/key')).toBe('/stage/key')
    for (const k of ['', '/', 'a//b', '../a', 'a b']) expect(() => seedKey(k), JSON.stringify(k)).toThrow(/invalid key/)
  })
})
