// Which ticks of a schedule the coordinator fires now, pure: a function of
// the schedule (its timing, policies and the last tick it decided) and the
// time. The table records each decided tick, so a tick is decided once
// whoever proposes it; what this decides is only which of the due ticks
// become firings and which are passed over (catch-up policy).
import { nextTick, ticksIn, type ScheduleSpec } from './timing.js'

/** A tick later than this when it is decided was missed (no coordinator, a cluster restart): the catch-up policy applies. */
export const MISSED_AFTER_MS = 2000

/** When a tick counts as missed. */
export interface MissedRule {
  /** A tick decided later than this after it came was missed. @default MISSED_AFTER_MS */
  missedAfterMs?: number
  /**
   * Since when the decider has led: a tick before it came while no
   * coordinator could fire it (the old one died, the cluster was down), so
   * it was missed however recent. @default -Infinity
   */
  since?: number
}

/** What the rules read of a schedule. */
export interface FiringState {
  spec: ScheduleSpec
  /** Ticks count from here (the schedule's creation). */
  anchor: number
  /** The newest tick already decided (fired or passed over); the anchor before the first. */
  lastTick: number
}

/** The ticks to fire now (oldest first) and the newest tick passed over without a firing, if any. */
export interface FiringDecision {
  fire: number[]
  /** Ticks up to this one are passed over (catchUp none, or older than the newest maxCatchUp). */
  skipThrough?: number
}

/**
 * The due ticks in (lastTick, now] under the catch-up policy:
 * - `last`: one firing, for the newest due tick (older ones are folded into it);
 * - `all`: a firing for each due tick, the newest `maxCatchUp` of them;
 * - `none`: a firing only for a tick that is on time (at or after `since`, and within MISSED_AFTER_MS), the others passed over.
 * A `once` schedule fires its first tick only.
 */
export function decideFirings (s: FiringState, now: number, rule: MissedRule = {}): FiringDecision {
  const { spec } = s
  const missedAfterMs = rule.missedAfterMs ?? MISSED_AFTER_MS
  const since = rule.since ?? -Infinity
  const missed = (tick: number): boolean => now - tick > missedAfterMs || tick < since
  if (spec.once) {
    const first = nextTick(spec.timing, s.anchor, s.anchor)
    if (first === undefined || s.lastTick >= first || first > now) return { fire: [] }
    return spec.catchUp === 'none' && missed(first) ? { fire: [], skipThrough: first } : { fire: [first] }
  }
  const n = spec.catchUp === 'all' ? spec.maxCatchUp : 1
  const due = ticksIn(spec.timing, s.anchor, s.lastTick, now, n)
  if (due.length === 0) return { fire: [] }
  const newest = due[due.length - 1]
  if (spec.catchUp === 'none' && missed(newest)) return { fire: [], skipThrough: newest }
  return { fire: due }
}

/** When the schedule next has a tick to decide (undefined: never again, e.g. a `once` schedule that fired). */
export function nextDecisionAt (s: FiringState): number | undefined {
  if (s.spec.once) {
    const first = nextTick(s.spec.timing, s.anchor, s.anchor)
    return first === undefined || s.lastTick >= first ? undefined : first
  }
  return nextTick(s.spec.timing, s.anchor, s.lastTick)
}
