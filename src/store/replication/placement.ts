import type { Member, Membership } from '../../mesh/membership/index.js'
import { createRing, type Ring } from '../../ring/index.js'
import type { Key } from '../key.js'

/** A replica of a key as the coordinator of a request sees it. */
export interface Target {
  peerId: string
  /** Mesh address; '' for self. */
  address: string
  isSelf: boolean
  /** Alive or suspect in membership (a dead replica is skipped; hinted handoff will cover it, issue 4). */
  isAlive: boolean
  /** Its gateway URL ('' when unknown). */
  http: string
}

/** Whether a member takes part in placement: it has the volume role and has not left. */
export function isVolume (m: Member): boolean {
  return m.state !== 'left' && m.meta.roles.includes('volume')
}

/**
 * The ring over the volume peers membership knows, rebuilt when the set
 * changes. Dead peers stay on the ring (their keys are not moved on a
 * failure; writes skip them), so a write with too few live replicas fails
 * rather than quietly landing on fewer peers. A peer dead for longer than
 * the grace period is taken off by rebalancing (`exclude`, see
 * AntiEntropy), which then re-replicates its keys.
 */
export class Placement {
  private ring: Ring = createRing()
  private signature = ''
  private onlySelf = false
  /** Volume peers kept off the ring (dead past the grace period; set by rebalancing). */
  private excluded: ReadonlySet<string> = new Set()
  /** Volume peers of the ring this peer had before it restarted, kept on it while membership does not know them yet (see remember). */
  private remembered: ReadonlySet<string> = new Set()

  constructor (private readonly membership: Membership, private readonly replicas: number, private readonly writeQuorum: number) {}

  /** Rebuilds the ring when the set of volume peers changed. */
  refresh (): void {
    const known = this.membership.members()
    const ids = known.filter(m => isVolume(m) && !this.excluded.has(m.peerId)).map(m => m.peerId)
    for (const peerId of this.remembered) {
      if (!this.excluded.has(peerId) && !known.some(m => m.peerId === peerId)) ids.push(peerId)
    }
    ids.sort()
    const signature = ids.join(',')
    if (signature === this.signature) return
    this.signature = signature
    this.ring = this.ring.withPeers(ids.map(peerId => ({ peerId })))
    this.onlySelf = ids.length === 1 && ids[0] === this.membership.peerId
  }

  /**
   * Keeps `peerIds` (the ring before a restart) on the ring until
   * membership knows them: a peer back from a restart that has not found
   * the others yet is not a one-peer cluster, and answers 503 rather than
   * take writes alone or call keys it lacks absent. Until forgotten (an
   * empty set): then they count as dead past the grace.
   */
  remember (peerIds: Iterable<string>): void {
    this.remembered = new Set([...peerIds].filter(p => p !== this.membership.peerId))
    this.refresh()
  }

  /** Remembered peers membership still does not know (see remember). */
  unknownRemembered (): string[] {
    return [...this.remembered].filter(p => this.membership.get(p) === undefined)
  }

  /** Whether this peer is the only volume peer: every key is its own, no ring lookup needed (a one-peer pmz). */
  selfOnly (): boolean { return this.onlySelf }

  /** Keeps these peers off the ring (rebalancing: dead past the grace period) and rebuilds it when that changes the set. */
  exclude (peerIds: ReadonlySet<string>): void {
    this.excluded = peerIds
    this.refresh()
  }

  /** The ring's fingerprint: changes whenever placement does. */
  fingerprint (): string { return this.ring.fingerprint }

  /** Peer ids on the ring, sorted. */
  peerIds (): string[] { return this.ring.peers().map(p => p.peerId) }

  /** Each ring peer's share of the hash space (0-1, summing to 1): the fraction of keys it owns. */
  shares (): Readonly<Record<string, number>> { return this.ring.shares() }

  /** The key's preference list as peer ids (owner first). */
  preferenceList (key: Key): string[] { return this.ring.preferenceList(key, this.n()) }

  /** The preference list of every key of a ring partition (anti-entropy's unit). */
  partitionList (partition: number): string[] { return this.ring.partitionList(partition, this.n()) }

  /** Replicas per key: the configured count, capped by the number of volume peers. */
  n (): number { return Math.min(this.replicas, this.ring.size) }

  /** Acknowledgements a write needs: the configured quorum, capped by N. */
  w (): number { return Math.min(this.writeQuorum, this.n()) }

  /** The key's preference list (owner first), each with its liveness. */
  targets (key: Key): Target[] {
    const self = this.membership.peerId
    return this.ring.preferenceList(key, this.n()).map(peerId => {
      if (peerId === self) return { peerId, address: '', isSelf: true, isAlive: true, http: '' }
      const m = this.membership.get(peerId)
      const isAlive = m !== undefined && (m.state === 'alive' || m.state === 'suspect')
      return { peerId, address: m?.address ?? '', isSelf: false, isAlive, http: m?.meta.http ?? '' }
    })
  }

  /** Live replicas in the order to read them: self first, then by preference (of `targets` when the caller has them). */
  readOrder (key: Key, targets: Target[] = this.targets(key)): Target[] {
    const live = targets.filter(t => t.isAlive)
    return [...live.filter(t => t.isSelf), ...live.filter(t => !t.isSelf)]
  }

  /** Live volume peers other than self, for cluster-wide views (list). */
  liveVolumePeers (): Member[] {
    return this.membership.alive().filter(m => isVolume(m) && m.peerId !== this.membership.peerId)
  }

  /** Whether this peer is on the ring. */
  hasSelf (): boolean { return this.ring.has(this.membership.peerId) }
}
