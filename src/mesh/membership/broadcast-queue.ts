import type { WireMember } from './messages.js'

interface Entry { update: WireMember, transmits: number, replaced: boolean }

/**
 * Updates waiting to be gossiped, at most one per member (a newer one
 * replaces the older). Each message takes the least transmitted updates
 * first, newest first among equals, as memberlist's TransmitLimitedQueue does;
 * an update is dropped once sent `limit` times. Buckets by transmission
 * count keep `take` O(updates taken); replaced entries are skipped lazily.
 */
export class BroadcastQueue {
  private readonly current = new Map<string, Entry>()
  private readonly buckets: Entry[][] = [[]]

  /** Updates still to be sent. */
  get size (): number { return this.current.size }

  enqueue (update: WireMember): void {
    const e: Entry = { update, transmits: 0, replaced: false }
    const old = this.current.get(update.peerId)
    if (old !== undefined) old.replaced = true
    this.current.set(update.peerId, e)
    this.buckets[0].push(e)
  }

  /** Takes up to `max` updates for one message, counting a transmission of each. */
  take (max: number, limit: number): WireMember[] {
    if (this.current.size === 0 || max <= 0) return []
    const picked: Entry[] = []
    for (let t = 0; t < this.buckets.length && picked.length < max; t++) {
      const bucket = this.buckets[t]
      while (bucket.length > 0 && picked.length < max) {
        const e = bucket.pop() as Entry
        if (e.replaced) continue
        if (e.transmits >= limit) { this.drop(e); continue }
        picked.push(e)
      }
    }
    const out: WireMember[] = []
    for (const e of picked) {
      out.push(e.update)
      e.transmits++
      if (e.transmits >= limit) {
        this.drop(e)
      } else {
        while (this.buckets.length <= e.transmits) this.buckets.push([])
        this.buckets[e.transmits].push(e)
      }
    }
    return out
  }

  private drop (e: Entry): void {
    e.replaced = true
    this.current.delete(e.update.peerId)
  }

  clear (): void {
    this.current.clear()
    for (const b of this.buckets) b.length = 0
  }
}
