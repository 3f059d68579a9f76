import { describe, expect, it } from 'vitest'
import { isLoopbackHost } from '../../../src/config/index.js'
import { bearerCheck, needsToken } from '../../../src/http/auth.js'

describe('the bearer token', () => {
  it('is asked of writes, admin routes and the job and cluster event streams only', () => {
    expect(needsToken('PUT', '/add_key/a')).toBe(true)
    expect(needsToken('DELETE', '/delete_key/a')).toBe(true)
    expect(needsToken('POST', '/admin/counter/x?by=1')).toBe(true)
    expect(needsToken('GET', '/admin/status')).toBe(true)
    expect(needsToken('GET', '/admin')).toBe(true)
    expect(needsToken('GET', '/jobs/7/events')).toBe(true)
    expect(needsToken('GET', '/events')).toBe(true)
    expect(needsToken('GET', '/events?topics=keys')).toBe(true)
    expect(needsToken('GET', '/eventsx')).toBe(false)
    expect(needsToken('PUT', '/extension/ocr/a')).toBe(true)
    expect(needsToken('GET', '/get_key/admin/x')).toBe(false)
    expect(needsToken('HEAD', '/get_key/a')).toBe(false)
    expect(needsToken('GET', '/get_node/a')).toBe(false)
    expect(needsToken('GET', '/extension/search/a')).toBe(false)
    expect(needsToken('OPTIONS', '/admin/status')).toBe(false)
    expect(needsToken('GET', '/administrator')).toBe(false)
  })

  it('passes everything when no token is configured, and checks the header otherwise', () => {
    expect(bearerCheck('')).toBeUndefined()
    expect(bearerCheck(undefined)).toBeUndefined()
    const check = bearerCheck('t0k')!
    expect(check('PUT', '/add_key/a', 'Bearer t0k')).toBeUndefined()
    expect(check('PUT', '/add_key/a', 'bearer  t0k ')).toBeUndefined()
    expect(check('PUT', '/add_key/a', undefined)).toMatchObject({ code: 'ERR_UNAUTHORIZED', status: 401 })
    expect(check('PUT', '/add_key/a', 'Bearer t0k2')).toMatchObject({ code: 'ERR_UNAUTHORIZED' })
    expect(check('PUT', '/add_key/a', 'Basic dDBr')).toMatchObject({ code: 'ERR_UNAUTHORIZED' })
    expect(check('GET', '/get_key/a', undefined)).toBeUndefined()
  })
})

describe('isLoopbackHost', () => {
  it('knows the addresses that keep a peer on this machine', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(h), h).toBe(true)
    for (const h of ['0.0.0.0', '::', '192.168.1.4', 'myhost', '10.0.0.1']) expect(isLoopbackHost(h), h).toBe(false)
  })
})
