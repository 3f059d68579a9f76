import { createHash, timingSafeEqual } from 'node:crypto'
import { PmzError } from '../common/errors.js'

/**
 * Whether a request needs the bearer token: every admin route, the job
 * event streams (`/jobs/{id}/events` shows what `admin/jobs/{id}` does), the
 * cluster event stream (`/events`: peers, keys and jobs), and
 * every method that changes something (PUT, POST, DELETE, PATCH). Reads of keys
 * (GET/HEAD), GET extensions and OPTIONS (CORS preflight) stay open.
 */
export function needsToken (method: string, url: string): boolean {
  if (method === 'OPTIONS') return false
  if (url === '/admin' || url.startsWith('/admin/') || url.startsWith('/admin?') || url.startsWith('/jobs/') || url === '/events' || url.startsWith('/events?')) return true
  return method !== 'GET' && method !== 'HEAD'
}

/**
 * A check of `Authorization: Bearer TOKEN` against the configured token, or
 * undefined when no token is configured (every request passes, at no cost).
 * Compared in constant time over digests, so neither the token nor its
 * length leaks through timing.
 */
export function bearerCheck (token: string | undefined): ((method: string, url: string, authorization: string | undefined) => PmzError | undefined) | undefined {
  if (token === undefined || token === '') return undefined
  const expected = digest(token)
  return (method, url, authorization) => {
    if (!needsToken(method, url)) return undefined
    const m = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization)
    if (m !== null && timingSafeEqual(digest(m[1]), expected)) return undefined
    return new PmzError('ERR_UNAUTHORIZED', m === null ? 'a bearer token is required (Authorization: Bearer TOKEN)' : 'the bearer token is wrong')
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest()
