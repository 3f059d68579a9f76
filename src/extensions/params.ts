import { badRequest } from '../common/errors.js'
import type { ExtensionParams } from './types.js'

/**
 * The first value of a query parameter that is not blank. Pulzar's
 * extensions read `params[name][0]` after Python's `parse_qs` had dropped
 * blank values, so `?eq=&limit=` (a form sent with empty fields) means no
 * `eq` and no `limit`.
 */
export function first (params: ExtensionParams, name: string): string | undefined {
  return params[name]?.find(v => v !== '')
}

/** A non-negative integer parameter, or undefined when absent or blank; ERR_BAD_REQUEST when malformed. */
export function nonNegativeInt (params: ExtensionParams, name: string): number | undefined {
  const raw = first(params, name)
  if (raw === undefined) return undefined
  if (!/^\d{1,15}$/.test(raw.trim())) throw badRequest(`${name} must be a non-negative integer`, { param: name })
  return Number(raw.trim())
}
