import { PARTITIONS } from '../../ring/index.js'
import type { PartitionView } from '../types.js'

/** What the partitions of a ring hold, from the store's record counts: what under-replication is counted from. */
export interface PartitionTally {
  /** Records held (tombstones and expired values included). */
  records: number
  /** Records of partitions whose preference list does not hold this peer (to hand off). */
  notOwned: number
  /** Records of owned partitions, by preference list (an index into `lists`). */
  byList: Map<number, number>
}

/**
 * The partitions of one ring as this peer sees them: each partition's
 * preference list (the distinct lists are few: about one per ring point),
 * which partitions this peer shares with each other peer, and which it
 * does not own. Built once per ring (65,536 look-ups), so a round costs a
 * pass over typed arrays, whatever the number of keys.
 */
export class RingPartitions {
  /** Per partition, the index of its preference list in `lists`. */
  private readonly listOf = new Uint32Array(PARTITIONS)
  readonly lists: string[][] = []
  private readonly masks = new Map<string, Uint8Array>()
  /** Partitions whose list does not hold this peer. */
  readonly notOwned: number[] = []

  constructor (readonly ring: string, private readonly self: string, partitionList: (p: number) => string[]) {
    const index = new Map<string, number>()
    for (let p = 0; p < PARTITIONS; p++) {
      const pl = partitionList(p)
      const sig = pl.join('\u0000')
      let i = index.get(sig)
      if (i === undefined) {
        i = this.lists.length
        this.lists.push(pl)
        index.set(sig, i)
      }
      this.listOf[p] = i
      if (!pl.includes(self)) this.notOwned.push(p)
    }
  }

  /** 1 where the partition's preference list holds this peer and `peerId`. */
  shared (peerId: string): Uint8Array {
    let mask = this.masks.get(peerId)
    if (mask === undefined) {
      const both = this.lists.map(pl => pl.includes(this.self) && pl.includes(peerId))
      mask = new Uint8Array(PARTITIONS)
      for (let p = 0; p < PARTITIONS; p++) if (both[this.listOf[p]]) mask[p] = 1
      this.masks.set(peerId, mask)
    }
    return mask
  }

  /** Whether a partition this peer shares with `peerId` changed at or after `since` (ms). */
  changedSince (view: PartitionView, peerId: string, since: number): boolean {
    const mask = this.shared(peerId)
    const at = view.changedAt
    for (let p = 0; p < PARTITIONS; p++) if (at[p] >= since && mask[p] === 1) return true
    return false
  }

  /** The store's records counted by preference list. */
  tally (view: PartitionView): PartitionTally {
    const perList = new Float64Array(this.lists.length)
    let records = 0
    for (let p = 0; p < PARTITIONS; p++) {
      const n = view.count[p]
      if (n === 0) continue
      records += n
      perList[this.listOf[p]] += n
    }
    let notOwned = 0
    const byList = new Map<number, number>()
    for (let i = 0; i < this.lists.length; i++) {
      if (perList[i] === 0) continue
      if (this.lists[i].includes(this.self)) byList.set(i, perList[i])
      else notOwned += perList[i]
    }
    return { records, notOwned, byList }
  }
}
