import { TIMED_OUT, beforeTimeout, type Clock, type Timer } from '../common/clock.js'

interface Waiter {
  check: () => unknown
  resolve: (v: unknown) => void
  reject: (err: Error) => void
  timer: Timer
}

/**
 * Promises that wait for a condition on Raft state (a leader is known, an
 * index is applied), re-checked whenever the state moves (`poke`), each with
 * a deadline on the injected clock: nothing waits forever.
 */
export class Waiters {
  private readonly waiting = new Set<Waiter>()

  constructor (private readonly clock: Clock) {}

  /**
   * Resolves with the first value of `check` that is not undefined; rejects
   * with what `check` throws, or with `onTimeout()` at `deadline` (monotonic ms).
   */
  async until<T> (check: () => T | undefined, deadline: number, onTimeout: () => Error): Promise<T> {
    const now = check()
    if (now !== undefined) return now
    return await new Promise<T>((resolve, reject) => {
      const w: Waiter = {
        check,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: this.clock.setTimeout(() => { this.settle(w, () => reject(onTimeout())) }, Math.max(0, deadline - this.clock.monotonic()))
      }
      this.waiting.add(w)
    })
  }

  /** Re-runs every check. */
  poke (): void {
    for (const w of [...this.waiting]) {
      let value: unknown
      try {
        value = w.check()
      } catch (err) {
        this.settle(w, () => w.reject(err as Error))
        continue
      }
      if (value !== undefined) this.settle(w, () => w.resolve(value))
    }
  }

  rejectAll (err: Error): void {
    for (const w of [...this.waiting]) this.settle(w, () => w.reject(err))
  }

  private settle (w: Waiter, fn: () => void): void {
    if (!this.waiting.delete(w)) return
    w.timer.cancel()
    fn()
  }
}

/** `promise`, or `onTimeout()` at `deadline` (monotonic ms), whichever comes first. */
export async function withDeadline<T> (clock: Clock, promise: Promise<T>, deadline: number, onTimeout: () => Error): Promise<T> {
  const r = await beforeTimeout(clock, promise, Math.max(0, deadline - clock.monotonic()))
  if (r === TIMED_OUT) throw onTimeout()
  return r
}
