import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { clientErrorAnswer, rawEnvelopeAnswer } from '../../../src/http/client-error.js'
import { checkJsonText, exceedsDepth } from '../../../src/http/json-text.js'

const refusal = (fn: () => unknown): string | undefined => {
  try {
    fn()
    return undefined
  } catch (err) {
    return isPmzError(err) ? `${err.status} ${err.code}` : String(err)
  }
}

describe('checkJsonText', () => {
  it('returns the text as it came, __proto__ keys and spacing included', () => {
    for (const text of ['{"__proto__":{"polluted":1}}', '{"b":1,  "a":[1.50, 2e3]}\n', '"[{"', '0', 'null']) {
      expect(checkJsonText(Buffer.from(text), 64)).toBe(text)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('refuses with 400 what is not one JSON value in UTF-8, or nests too deep', () => {
    for (const bad of ['', '  ', '{not json', '{"a":1}{', '\uFEFF{}']) {
      expect(refusal(() => checkJsonText(Buffer.from(bad), 64)), JSON.stringify(bad)).toBe('400 ERR_BAD_REQUEST')
    }
    expect(refusal(() => checkJsonText(Buffer.from([0x22, 0xff, 0x22]), 64))).toBe('400 ERR_BAD_REQUEST')
    expect(refusal(() => checkJsonText(Buffer.from('['.repeat(30_000) + ']'.repeat(30_000)), 64))).toBe('400 ERR_BAD_REQUEST')
    expect(checkJsonText(Buffer.from('['.repeat(64) + ']'.repeat(64)), 64)).toHaveLength(128)
  })

  it('counts only brackets outside strings', () => {
    expect(exceedsDepth('{"a":"[[[[[[\\"[[["}', 2)).toBe(false)
    expect(exceedsDepth('[[["\\\\"]]]', 2)).toBe(true)
  })
})

describe('answers to what node refuses before any route', () => {
  it('map parser errors to a status and an envelope', () => {
    expect(clientErrorAnswer('HPE_HEADER_OVERFLOW').status).toBe(431)
    expect(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT').status).toBe(408)
    expect(clientErrorAnswer('HPE_INVALID_METHOD').status).toBe(400)
    expect(clientErrorAnswer('HPE_INVALID_CONSTANT').status).toBe(400)
    const text = rawEnvelopeAnswer(431, 'request headers too large')
    expect(text).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
    const body = text.slice(text.indexOf('\r\n\r\n') + 4)
    expect(JSON.parse(body)).toEqual({ data: null, status: 'ko', msg: 'request headers too large' })
    expect(text).toContain(`content-length: ${Buffer.byteLength(body)}\r\n`)
  })
})
