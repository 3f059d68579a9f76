/** Limits and defaults of the HTTP gateway. */

/** How long an upload may send nothing before it is cut (408), in ms (`[http] body_idle_timeout_s`). */
export const BODY_IDLE_TIMEOUT_MS = 30_000

/** Uploads one client address may have in progress at once; more get 429 (`[http] max_uploads_per_client`). */
export const MAX_UPLOADS_PER_CLIENT = 128

/**
 * The most bytes of a refused request's unread body read and thrown away so
 * that the client, still sending, gets to read the answer (clients such as
 * Python's http.client send the whole body before reading); a larger
 * remainder closes the connection. At least this, or twice maxsize.
 */
export const DRAIN_MIN_BYTES = 16 * 1024 * 1024

/** How long a connection refused as a malformed request may linger after its answer, in ms. */
export const CLIENT_ERROR_LINGER_MS = 1000

/** Deepest nesting of a JSON body (a setting); deeper is 400. */
export const MAX_JSON_DEPTH = 64

/**
 * Largest `temporal`, in days (about 27,000 years): every expiry it gives
 * until the year 240,000 is a valid date (JS dates end at 8.64e15 ms).
 */
export const MAX_TEMPORAL_DAYS = 10_000_000
