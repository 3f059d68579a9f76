import { describe, expect, it } from 'vitest'
import { ERROR_STATUS, PmzError, fromWireError, isPmzError, toWireError } from '../../../src/common/errors.js'
import { ko, ok } from '../../../src/http/envelope.js'
import { mapError } from '../../../src/http/error-mapper.js'

describe('the envelope', () => {
  it('always has exactly data, status and msg', () => {
    expect(ok({ a: 1 })).toEqual({ data: { a: 1 }, status: 'ok', msg: '' })
    expect(ok(null, 'key added')).toEqual({ data: null, status: 'ok', msg: 'key added' })
    expect(ko('key not found')).toEqual({ data: null, status: 'ko', msg: 'key not found' })
    expect(Object.keys(ko('x'))).toEqual(['data', 'status', 'msg'])
  })
})

describe('mapError', () => {
  it('maps every code through the one status table', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      expect(mapError(new PmzError(code as never, 'm')).status, code).toBe(status)
    }
    expect(mapError(new PmzError('ERR_KEY_INVALID', 'invalid key: empty segment'))).toEqual({ status: 400, msg: 'invalid key: empty segment' })
  })

  it('keeps Pulzar texts for too-large and wrong-method answers', () => {
    expect(mapError(new PmzError('ERR_TOO_LARGE', 'x', { details: { maxsizeMb: 5 } }))).toEqual({ status: 413, msg: 'max size allowed is 5MB' })
    expect(mapError(new PmzError('ERR_METHOD_NOT_ALLOWED', 'Method used does not match, try with PUT', { details: { allow: ['PUT', 'OPTIONS'] } })))
      .toEqual({ status: 405, msg: 'Method used does not match, try with PUT', headers: { allow: 'PUT, OPTIONS' } })
  })

  it('never shows a stack or an internal message for unexpected errors', () => {
    const err = new TypeError('Cannot read properties of undefined (reading \'x\')')
    expect(mapError(err)).toEqual({ status: 500, msg: 'internal error' })
    expect(mapError('a string')).toEqual({ status: 500, msg: 'internal error' })
  })

  it('keeps 4xx framework errors as they are', () => {
    const err = Object.assign(new Error('Body cannot be empty'), { statusCode: 400 })
    expect(mapError(err)).toEqual({ status: 400, msg: 'Body cannot be empty' })
  })
})

describe('errors on the wire', () => {
  it('are rebuilt by code; an unknown code becomes ERR_REMOTE', () => {
    const back = fromWireError(toWireError(new PmzError('ERR_QUORUM_NOT_MET', 'need 2', { details: { acks: 1 } })))
    expect(isPmzError(back, 'ERR_QUORUM_NOT_MET')).toBe(true)
    expect(back.retryable).toBe(true)
    expect(back.details).toEqual({ acks: 1 })
    expect(fromWireError({ code: 'ERR_FROM_THE_FUTURE', message: 'm' }).code).toBe('ERR_REMOTE')
    expect(toWireError(new Error('secret internals'))).toEqual({ code: 'ERR_INTERNAL', message: 'internal error' })
  })
})
