import { badRequest } from '../../common/errors.js'

/** The topics of `GET /events`, in the order their snapshots are sent. */
export const TOPICS = ['peers', 'coordinator', 'keys', 'ring', 'jobs', 'schedules', 'batches'] as const
export type Topic = typeof TOPICS[number]

const KNOWN: ReadonlySet<string> = new Set(TOPICS)

/**
 * The topics a `?topics=` query asks for (comma-separated, repeatable); all
 * of them when it is absent or empty. An unknown one is ERR_BAD_REQUEST.
 */
export function parseTopics (raw: unknown): ReadonlySet<Topic> {
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  const asked = values.flatMap(v => String(v).split(',')).map(s => s.trim()).filter(s => s !== '')
  if (asked.length === 0) return new Set(TOPICS)
  for (const t of asked) {
    if (!KNOWN.has(t)) throw badRequest(`unknown topic '${t}'; known: ${TOPICS.join(', ')}`)
  }
  return new Set(asked as Topic[])
}

/**
 * The id a client resumes after: the `Last-Event-ID` header (what an
 * EventSource sends when it reconnects), else `?lastEventId=`; undefined for
 * a fresh stream. Anything but a non-negative integer is ERR_BAD_REQUEST.
 */
export function parseLastEventId (header: unknown, query: unknown): number | undefined {
  const raw = firstOf(header) ?? firstOf(query)
  if (raw === undefined || raw.trim() === '') return undefined
  const s = raw.trim()
  const n = Number(s)
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) {
    throw badRequest(`Last-Event-ID must be a non-negative integer, got '${s.slice(0, 40)}'`)
  }
  return n
}

function firstOf (v: unknown): string | undefined {
  const first = Array.isArray(v) ? v[0] : v
  return first === undefined || first === null ? undefined : String(first)
}
