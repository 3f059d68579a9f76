/** Limits and defaults of the HTTP gateway. */

/**
 * Largest `temporal`, in days (about 27,000 years): every expiry it gives
 * until the year 240,000 is a valid date (JS dates end at 8.64e15 ms).
 */
export const MAX_TEMPORAL_DAYS = 10_000_000
