import { describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { first, nonNegativeInt } from '../../../src/extensions/params.js'

describe('extension parameters as Pulzar\'s extensions read them (issue 20)', () => {
  it('first is the first value that is not blank: parse_qs dropped blank ones before `params[name][0]`', () => {
    expect(first({ p: ['1', '2'] }, 'p')).toBe('1')
    expect(first({ p: ['', '2'] }, 'p')).toBe('2')
    expect(first({ p: [''] }, 'p')).toBeUndefined()
    expect(first({}, 'p')).toBeUndefined()
    expect(first({ p: [' '] }, 'p')).toBe(' ')
  })

  it('nonNegativeInt takes a blank value as absent and still refuses a malformed one', () => {
    expect(nonNegativeInt({ limit: [''] }, 'limit')).toBeUndefined()
    expect(nonNegativeInt({ limit: [' 5 '] }, 'limit')).toBe(5)
    try {
      nonNegativeInt({ limit: ['ten'] }, 'limit')
      expect.unreachable()
    } catch (err) {
      expect(isPmzError(err, 'ERR_BAD_REQUEST')).toBe(true)
    }
  })
})
