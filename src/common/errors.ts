/**
 * Stable error codes. Codes are API: never rename one. Tests assert on the
 * code and the HTTP status, never on message text.
 */
export type ErrorCode =
  | 'ERR_BAD_REQUEST'
  | 'ERR_KEY_INVALID'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_CONFLICT'
  | 'ERR_STALE_TERM'
  | 'ERR_TOO_LARGE'
  | 'ERR_NO_SPACE'
  | 'ERR_REQUEST_TIMEOUT'
  | 'ERR_TOO_MANY_REQUESTS'
  | 'ERR_QUORUM_NOT_MET'
  | 'ERR_NO_COORDINATOR'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_UNAVAILABLE'
  | 'ERR_TIMEOUT'
  | 'ERR_ABORTED'
  | 'ERR_STORE_IO'
  | 'ERR_CORRUPT'
  | 'ERR_REMOTE'
  | 'ERR_INTERNAL'

/** The HTTP status each code maps to, in one table. */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  ERR_BAD_REQUEST: 400,
  ERR_KEY_INVALID: 400,
  ERR_CONFIG_INVALID: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_NOT_FOUND: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  ERR_CONFLICT: 409,
  ERR_STALE_TERM: 409,
  ERR_TOO_LARGE: 413,
  /** The data disk is full or below `[store] min_free_mb`: the write was not taken (WebDAV's Insufficient Storage). */
  ERR_NO_SPACE: 507,
  ERR_REQUEST_TIMEOUT: 408,
  ERR_TOO_MANY_REQUESTS: 429,
  ERR_QUORUM_NOT_MET: 503,
  ERR_NO_COORDINATOR: 503,
  ERR_SHUTTING_DOWN: 503,
  ERR_UNAVAILABLE: 503,
  ERR_TIMEOUT: 504,
  ERR_ABORTED: 499,
  ERR_STORE_IO: 500,
  ERR_CORRUPT: 500,
  ERR_REMOTE: 502,
  ERR_INTERNAL: 500
}

const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'ERR_QUORUM_NOT_MET', 'ERR_NO_COORDINATOR', 'ERR_SHUTTING_DOWN', 'ERR_UNAVAILABLE', 'ERR_TIMEOUT', 'ERR_TOO_MANY_REQUESTS'
])

export interface PmzErrorOptions extends ErrorOptions {
  /** Overrides the status of the code's row in {@link ERROR_STATUS}. */
  status?: number
  /** Whether the caller may retry the same request later. */
  retryable?: boolean
  /** Structured facts safe to show a client (never a stack). */
  details?: Record<string, unknown>
}

const PMZ_ERROR = Symbol.for('pmz.error')

export class PmzError extends Error {
  readonly [PMZ_ERROR] = true

  constructor (readonly code: ErrorCode, message: string, readonly opts: PmzErrorOptions = {}) {
    super(message, { cause: opts.cause })
    this.name = new.target.name
  }

  get status (): number { return this.opts.status ?? ERROR_STATUS[this.code] ?? 500 }
  get retryable (): boolean { return this.opts.retryable ?? RETRYABLE.has(this.code) }
  get details (): Record<string, unknown> | undefined { return this.opts.details }
}

/** True when `err` is a PmzError (from any copy of this module), optionally of one code. */
export function isPmzError (err: unknown, code?: ErrorCode): err is PmzError {
  if (err === null || typeof err !== 'object' || (err as Record<symbol, unknown>)[PMZ_ERROR] !== true) return false
  return code === undefined || (err as PmzError).code === code
}

/** The shape an error takes on the mesh. */
export interface WireError { code: string, message: string, details?: Record<string, unknown> }

export function toWireError (err: unknown): WireError {
  if (isPmzError(err)) return { code: err.code, message: err.message, details: err.details }
  return { code: 'ERR_INTERNAL', message: 'internal error' }
}

/** Rebuilds an error received from a peer; an unknown code becomes ERR_REMOTE. */
export function fromWireError (wire: WireError): PmzError {
  const code = (wire.code in ERROR_STATUS ? wire.code : 'ERR_REMOTE') as ErrorCode
  return new PmzError(code, wire.message, { details: wire.details })
}

export const badRequest = (message: string, details?: Record<string, unknown>): PmzError =>
  new PmzError('ERR_BAD_REQUEST', message, { details })
export const notFound = (message: string): PmzError => new PmzError('ERR_NOT_FOUND', message)
