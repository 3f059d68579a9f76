/** A volume peer as the ring sees it. */
export interface RingPeer {
  peerId: string
  /**
   * Capacity of the peer in any unit shared by all peers of the ring (bytes,
   * or a relative number): a peer of twice the weight owns about twice the
   * keys. Only ratios matter. Must be a positive finite number.
   * @default 1 (DEFAULT_WEIGHT)
   */
  weight?: number
}

/** Options of a ring. */
export interface RingInit {
  /** The volume peers, in any order: the same set gives the same placement on every peer. @default [] */
  peers?: readonly RingPeer[]
  /**
   * Virtual nodes of a peer of average weight; a peer gets
   * `round(vnodesPerPeer x peers x weight / total weight)` of them, at least
   * MIN_VNODES. Every peer of a cluster must use the same value.
   * @default 160 (VNODES_PER_PEER)
   */
  vnodesPerPeer?: number
}

/**
 * An immutable consistent-hash ring with virtual nodes over the live volume
 * peers. Pure: no I/O, no clock, no randomness. A change of membership makes
 * a new ring with {@link Ring.withPeers}, so the old and the new placement can
 * be compared (see `diffRings`).
 */
export interface Ring {
  /** Number of peers on the ring. */
  readonly size: number
  /**
   * Short hex digest of the peer set, weights and vnode counts: two rings with
   * the same fingerprint place every key identically (peers can compare it to
   * learn whether they agree on the ring).
   */
  readonly fingerprint: string
  /** The peers, sorted by peer id, with their effective weight. */
  peers(): RingPeer[]
  has(peerId: string): boolean
  /** Virtual nodes the peer holds (0 when it is not on the ring). */
  vnodes(peerId: string): number
  /**
   * The first `n` distinct peers met walking the ring clockwise from the
   * first position of the key's partition (Dynamo's preference list): the owner first, then the
   * replicas in order. Has `min(n, size)` entries; empty when the ring is
   * empty or `n < 1`. Weights shape who owns a key (the first entry);
   * replicas are distinct peers, so a heavy peer holds at most one copy of
   * a key.
   */
  preferenceList(key: string, n: number): string[]
  /**
   * Each peer's share of the hash space, 0-1 (they sum to 1): the fraction
   * of keys it owns (first entry of their preference list), on average.
   * Empty on an empty ring.
   */
  shares(): Readonly<Record<string, number>>

  /**
   * The preference list of every key of a ring partition (see
   * PARTITION_BITS): a key's list is its partition's, so digests kept per
   * partition can be compared between the peers that share it.
   */
  partitionList(partition: number, n: number): string[]
  /** The first entry of the preference list; undefined on an empty ring. */
  owner(key: string): string | undefined
  /** A new ring over these peers with the same vnode setting; this one is unchanged. */
  withPeers(peers: readonly RingPeer[]): Ring
}

/** A key whose preference list differs between two rings. */
export interface KeyMove {
  key: string
  /** Preference list on the old ring. */
  before: string[]
  /** Preference list on the new ring. */
  after: string[]
  /** Peers that must receive a copy: in `after`, not in `before`. */
  added: string[]
  /** Peers that may drop their copy: in `before`, not in `after`. */
  removed: string[]
  /** Whether the first entry (the owner) changed. */
  ownerChanged: boolean
}
