/** A counting semaphore whose waiters leave when their signal fires. */
export class Slots {
  private free: number
  private readonly waiters: Array<(ok: boolean) => void> = []

  constructor (size: number) { this.free = Math.max(1, Math.floor(size)) }

  /** Resolves true with a slot, or false when `signal` fired first. */
  acquire (signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false)
    if (this.free > 0) {
      this.free--
      return Promise.resolve(true)
    }
    return new Promise(resolve => {
      const grant = (ok: boolean): void => {
        signal.removeEventListener('abort', onAbort)
        resolve(ok)
      }
      const onAbort = (): void => {
        const i = this.waiters.indexOf(grant)
        if (i !== -1) this.waiters.splice(i, 1)
        resolve(false)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(grant)
    })
  }

  release (): void {
    const next = this.waiters.shift()
    if (next !== undefined) next(true)
    else this.free++
  }
}
