/**
 * What a seed declares about how it may run (DESIGN.md "Seeds": limits):
 * `concurrency` (live attempts at once, cluster-wide), `timeoutMs` (run time
 * of one attempt) and `retries` (failed attempts re-run). A launch may ask
 * for its own `timeoutMs` and `retries`; the seed's apply otherwise.
 */
export interface SeedLimits {
  concurrency?: number
  timeoutMs?: number
  retries?: number
}

/** Largest `retries` a seed may declare. */
export const MAX_SEED_RETRIES = 100
/** Longest `timeoutMs` a seed may declare: a week. */
export const MAX_SEED_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000
/** Largest `concurrency` a seed may declare. */
export const MAX_SEED_CONCURRENCY = 1_000_000

const BOUNDS: Readonly<Record<keyof SeedLimits, readonly [number, number]>> = {
  concurrency: [1, MAX_SEED_CONCURRENCY],
  timeoutMs: [1, MAX_SEED_TIMEOUT_MS],
  retries: [0, MAX_SEED_RETRIES]
}
const FIELDS = Object.keys(BOUNDS) as Array<keyof SeedLimits>

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/**
 * Reads the limits of a record (a module's exports, its default export
 * object, a sidecar): the checked limits, or the first problem. A field that
 * is absent is no limit; one out of its range is an error, so the seed is
 * listed with it and not launched with a limit it did not mean.
 */
export function limitsFrom (x: unknown): { ok: true, limits: SeedLimits } | { ok: false, error: string } {
  const limits: SeedLimits = {}
  if (!isObj(x)) return { ok: true, limits }
  for (const field of FIELDS) {
    const v = x[field]
    if (v === undefined) continue
    const [min, max] = BOUNDS[field]
    if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max) {
      return { ok: false, error: `${field} must be an integer from ${min} to ${max}` }
    }
    limits[field] = v as number
  }
  return { ok: true, limits }
}

/** A module's limits: its named exports, or those of its default export when that is an object (named exports win). */
export function moduleLimits (exports: Readonly<Record<string, unknown>> | undefined): ReturnType<typeof limitsFrom> {
  if (exports === undefined) return { ok: true, limits: {} }
  const def = isObj(exports.default) ? limitsFrom(exports.default) : { ok: true as const, limits: {} }
  const named = limitsFrom(exports)
  if (!named.ok) return named
  if (!def.ok) return def
  return { ok: true, limits: { ...def.limits, ...named.limits } }
}

/** Whether a gossiped `limits` field is well formed (checked like the rest of a catalog entry). */
export function isLimits (x: unknown): x is SeedLimits {
  if (!isObj(x)) return false
  const checked = limitsFrom(x)
  return checked.ok && Object.keys(x).every(k => (FIELDS as string[]).includes(k))
}

/** Longest declared `schedule` kept, as JSON characters: it is gossiped. */
export const MAX_SCHEDULE_CHARS = 1000

/**
 * A module's (or sidecar's) `schedule` declaration, as plain JSON data: the
 * named export, else the default export object's. Undefined when none; an
 * error when it is not a small JSON object.
 */
export function declaredSchedule (exports: Readonly<Record<string, unknown>> | undefined): { ok: true, schedule?: Record<string, unknown> } | { ok: false, error: string } {
  const raw = exports?.schedule ?? (isObj(exports?.default) ? exports.default.schedule : undefined)
  if (raw === undefined) return { ok: true }
  let json: string | undefined
  try { json = JSON.stringify(raw) } catch { json = undefined }
  if (!isObj(raw) || json === undefined || json.length > MAX_SCHEDULE_CHARS) return { ok: false, error: `schedule must be a JSON object of at most ${MAX_SCHEDULE_CHARS} characters` }
  return { ok: true, schedule: JSON.parse(json) as Record<string, unknown> }
}
