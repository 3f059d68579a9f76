import type { Clock } from '../../common/clock.js'
import { compareHlc } from '../../common/hlc.js'
import type { Logger } from '../../common/logger.js'
import type { Membership, MembershipEvent } from '../../mesh/membership/index.js'
import type { ReplicaEntry } from '../record.js'
import type { ReplicaStore } from '../types.js'
import type { Placement, Target } from './placement.js'
import type { ReplicaClient } from './replica-client.js'

/**
 * Which volume peers have been dead for longer than the grace period, and so
 * leave the placement ring (their keys get re-replicated to N live copies).
 * A short failure keeps the peer on the ring: its keys are not moved, and it
 * catches up through hints and anti-entropy when it returns. A peer that
 * left gracefully is off the ring at once (Placement skips `left`).
 */
export class DeadPeers {
  private readonly since = new Map<string, number>()

  constructor (private readonly membership: Membership, private readonly clock: Clock, readonly graceMs: number) {}

  onChange (e: MembershipEvent): void {
    if (e.type === 'dead') {
      if (!this.since.has(e.member.peerId)) this.since.set(e.member.peerId, this.clock.now())
    } else if (e.type !== 'update') {
      this.since.delete(e.member.peerId)
    }
  }

  /** Peers dead for longer than the grace period, as of now. */
  expired (): Set<string> {
    const now = this.clock.now()
    const out = new Set<string>()
    for (const m of this.membership.members()) {
      if (m.state !== 'dead') {
        this.since.delete(m.peerId)
        continue
      }
      let since = this.since.get(m.peerId)
      if (since === undefined) {
        // Dead before this peer watched: count from when it was last heard of, or from now.
        since = Math.min(now, m.lastHeard ?? now)
        this.since.set(m.peerId, since)
      }
      if (now - since >= this.graceMs) out.add(m.peerId)
    }
    return out
  }
}

export interface HandoffContext {
  local: ReplicaStore
  client: ReplicaClient
  placement: Placement
  clock: Clock
  log: Logger
  /** Sends this peer's record of a key to a target (a value streamed, or a tombstone); resolves with whether the target now holds it or newer. */
  push: (t: Target, e: ReplicaEntry) => Promise<boolean>
}

/**
 * Hands off records this peer holds but no longer owns (the ring changed):
 * each goes to the members of its preference list that lack it, and the
 * local copy is dropped only once every member confirmed holding this
 * version or a newer one. With a member dead or unreachable the copy stays
 * for a later round. Returns how many copies were dropped.
 */
export async function handOff (entries: ReplicaEntry[], ctx: HandoffContext, concurrency: number): Promise<number> {
  let dropped = 0
  let next = 0
  const now = ctx.clock.now()
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, async () => {
    while (next < entries.length) {
      const e = entries[next++]
      try {
        if (await handOne(e, ctx, now)) dropped++
      } catch (err) {
        ctx.log.debug({ err, key: e.key }, 'handoff failed, retried next round')
      }
    }
  }))
  return dropped
}

async function handOne (e: ReplicaEntry, ctx: HandoffContext, now: number): Promise<boolean> {
  const targets = ctx.placement.targets(e.key)
  if (targets.length === 0 || targets.some(t => t.isSelf)) return false // owned again
  // An expired value needs no new home: every replica computes the same expiry.
  if (!e.deleted && e.expires !== null && e.expires <= now) return await ctx.local.dropReplica(e.key, e.version)
  let confirmed = 0
  for (const t of targets) {
    if (!t.isAlive) continue
    try {
      const held = await ctx.client.entry(t, e.key)
      if (held !== undefined && compareHlc(held.version, e.version) >= 0) confirmed++
      else if (await ctx.push(t, e)) confirmed++
    } catch (err) {
      ctx.log.debug({ err, key: e.key, replica: t.peerId }, 'handoff target did not confirm')
    }
  }
  if (confirmed < targets.length) return false
  return await ctx.local.dropReplica(e.key, e.version)
}
