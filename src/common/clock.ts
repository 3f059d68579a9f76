/** A cancellable timer handle. */
export interface Timer { cancel(): void }

/**
 * Time as the components see it. The system clock in production; a manual
 * clock in unit tests, whose `advance(ms)` fires due timers in order.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number
  /** Calls `fn` once after `ms`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): Timer
  /** Calls `fn` every `ms`; the timer never keeps the process alive. */
  setInterval(fn: () => void, ms: number): Timer
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout (fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref()
    return { cancel: () => clearTimeout(t) }
  },
  setInterval (fn, ms) {
    const t = setInterval(fn, ms)
    t.unref()
    return { cancel: () => clearInterval(t) }
  }
}

/** What `beforeTimeout` gives when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out')

/** What `promise` resolves to, or TIMED_OUT once `ms` passed on `clock` first (the timer is cancelled either way). */
export async function beforeTimeout<T> (clock: Clock, promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: Timer | undefined
  try {
    return await Promise.race([promise, new Promise<typeof TIMED_OUT>(resolve => { timer = clock.setTimeout(() => { resolve(TIMED_OUT) }, ms) })])
  } finally {
    timer?.cancel()
  }
}
