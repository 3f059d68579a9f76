import { badRequest } from '../common/errors.js'

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Checks that `bytes` are one JSON value in UTF-8, nested at most
 * `maxDepth` deep, and returns its text; ERR_BAD_REQUEST otherwise. The
 * bytes are what gets stored and served again, as they came (issue 12 item
 * 6): parsing only checks them, and no object is built from them, so a key
 * such as `__proto__` is kept as written and can reach no prototype. The
 * depth is checked before parsing, so a 30,000-deep body is a 400, never a
 * stack overflow further on.
 */
export function checkJsonText (bytes: Uint8Array, maxDepth: number): string {
  let text: string
  try {
    text = UTF8.decode(bytes)
  } catch {
    throw badRequest('the body is not UTF-8 text')
  }
  if (text.trim() === '') throw badRequest('the body must be a JSON value')
  if (exceedsDepth(text, maxDepth)) throw badRequest(`the body is nested deeper than ${maxDepth} levels`)
  try {
    JSON.parse(text)
  } catch (err) {
    throw badRequest(`the body is not JSON: ${(err as Error).message}`)
  }
  return text
}

/** Whether the arrays and objects of a JSON text nest deeper than `maxDepth` (brackets inside strings do not count). */
export function exceedsDepth (text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}
