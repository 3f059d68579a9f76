// How many packets a stage instance is handed beyond the one it runs. They
// cross to its thread or process in one message, so a fast stage wants many
// (a message costs both sides a wake-up, whatever it carries); but a packet
// handed to an instance waits there behind the others, even when a packet
// of higher priority comes or another instance starts. So the allowance is
// what fits in a short time of the instance's measured run time: many for
// a no-op stage, one for a stage that takes milliseconds. Pure.

export interface RunAheadInit {
  /** Most packets handed beyond the one it runs. */
  max: number
  /** Queued work an instance may hold, as its run time says, ms. */
  aheadMs: number
  /** The allowance before any run was measured (at most `max`). */
  start: number
}

/** Weight of the newest run in the average. */
const WEIGHT = 0.2

/** The average run time after one more run of `ms`. */
export function nextAverage (avgMs: number | undefined, ms: number): number {
  return avgMs === undefined ? ms : avgMs + WEIGHT * (ms - avgMs)
}

/** Packets beyond the running one for an instance whose runs take `avgMs` on average (undefined: not measured yet). */
export function runAhead (avgMs: number | undefined, init: RunAheadInit): number {
  if (init.max <= 0) return 0
  if (avgMs === undefined) return Math.min(init.start, init.max)
  if (avgMs <= 0) return init.max
  return Math.max(1, Math.min(init.max, Math.floor(init.aheadMs / avgMs)))
}
