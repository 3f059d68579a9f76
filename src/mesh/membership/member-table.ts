import type { Random } from '../../common/random.js'
import { isLive, type MemberRecord } from './rules.js'

/**
 * The members this peer knows, with the indexes the protocol needs in O(1):
 * random picks (gossip targets, indirect probers), the randomized
 * round-robin probe order (SWIM 4.3) and the count of live members.
 */
export class MemberTable {
  /** This peer's own record. */
  self: MemberRecord
  /** Members in state dead or left, until they are forgotten. */
  readonly gone = new Set<string>()
  private readonly records = new Map<string, MemberRecord>()
  /** Every member but self, for random picks; `pos` is each one's index. */
  private readonly ids: string[] = []
  private readonly pos = new Map<string, number>()
  private order: string[] = []
  private next = 0
  private liveCount = 1

  constructor (self: MemberRecord, private readonly random: Random) { this.self = self }

  /** Members alive or suspect, self included. */
  get live (): number { return this.liveCount }
  get size (): number { return this.records.size + 1 }

  get (peerId: string): MemberRecord | undefined {
    return peerId === this.self.peerId ? this.self : this.records.get(peerId)
  }

  /** Every record, self first. */
  all (): MemberRecord[] { return [this.self, ...this.records.values()] }

  /** Stores a record of another member, keeping the indexes in step. */
  put (r: MemberRecord): void {
    const old = this.records.get(r.peerId)
    this.records.set(r.peerId, r)
    if (old === undefined) {
      this.pos.set(r.peerId, this.ids.length)
      this.ids.push(r.peerId)
      // SWIM 4.3: a new member goes to a random place in the rest of the current round-robin pass.
      const i = this.next + Math.floor(this.random() * (this.order.length - this.next + 1))
      if (i < this.order.length) {
        this.order.push(this.order[i])
        this.order[i] = r.peerId
      } else {
        this.order.push(r.peerId)
      }
    }
    const wasLive = old !== undefined && isLive(old.state)
    if (wasLive !== isLive(r.state)) this.liveCount += wasLive ? -1 : 1
    if (isLive(r.state)) this.gone.delete(r.peerId)
    else this.gone.add(r.peerId)
  }

  /** Forgets a member (it stays in the probe order until that pass reaches it, then is skipped). */
  delete (peerId: string): void {
    const r = this.records.get(peerId)
    if (r === undefined) return
    this.records.delete(peerId)
    this.gone.delete(peerId)
    if (isLive(r.state)) this.liveCount--
    const i = this.pos.get(peerId) as number
    const last = this.ids.pop() as string
    if (last !== peerId) {
      this.ids[i] = last
      this.pos.set(last, i)
    }
    this.pos.delete(peerId)
  }

  /** The next member to probe: randomized round-robin over live members, reshuffled after each pass. */
  nextProbeTarget (): MemberRecord | undefined {
    for (let pass = 0; pass < 2; pass++) {
      while (this.next < this.order.length) {
        const r = this.records.get(this.order[this.next++])
        if (r !== undefined && isLive(r.state)) return r
      }
      this.order = this.shuffled(this.ids.filter(id => isLive((this.records.get(id) as MemberRecord).state)))
      this.next = 0
    }
    return undefined
  }

  /** Up to `k` distinct random members (never self) that `accept` takes. */
  pick (k: number, accept: (r: MemberRecord) => boolean): MemberRecord[] {
    const out: MemberRecord[] = []
    const n = this.ids.length
    if (k <= 0 || n === 0) return out
    const seen = new Set<string>()
    // Random draws are O(k) in a large table; a scan from a random offset finishes the job in a small or mostly dead one.
    for (let tries = 0; out.length < k && tries < 4 * k + 4; tries++) {
      const id = this.ids[Math.floor(this.random() * n)]
      if (seen.has(id)) continue
      seen.add(id)
      const r = this.records.get(id) as MemberRecord
      if (accept(r)) out.push(r)
    }
    const start = Math.floor(this.random() * n)
    for (let i = 0; out.length < k && i < n; i++) {
      const id = this.ids[(start + i) % n]
      if (seen.has(id)) continue
      seen.add(id)
      const r = this.records.get(id) as MemberRecord
      if (accept(r)) out.push(r)
    }
    return out
  }

  private shuffled (items: string[]): string[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1))
      const t = items[i]; items[i] = items[j]; items[j] = t
    }
    return items
  }
}
