// Defaults of the consistent-hash ring. Every value can be overridden through RingInit.

/**
 * Virtual nodes of a peer of average weight. hashring makes 4 ring points per
 * virtual node (ketama: one md5 digest cut into four 32-bit words), so 160
 * vnodes are 640 points per peer, which puts a peer's share within a few
 * percent of its fair share (one standard deviation about 1/sqrt(640) = 4 %).
 * Measured over 200,000 keys, the busiest peer owns 1.04x the mean with 5 or
 * 10 peers and 1.16x with 100 (40 vnodes, libketama's default tuned for cache
 * servers: 1.08x, 1.16x, 1.25x; an uneven disk is dearer than an uneven cache).
 * A 100-peer ring is then 64,000 points: built in tens of ms, searched in 16
 * steps; 256 vnodes would buy little (1.10x at 100 peers) for 60 % more points.
 */
export const VNODES_PER_PEER = 160

/** Fewest virtual nodes a peer gets, however small its weight: a live volume peer never drops off the ring. */
export const MIN_VNODES = 1

/** Weight of a peer that states none. Weights are relative: only their ratios matter. */
export const DEFAULT_WEIGHT = 1

/** Ring points per virtual node: hashring's ketama mode (`replicas` option, 4). */
export const POINTS_PER_VNODE = 4

/**
 * Bits of a key's ring position that place it: the ring is cut into
 * 2^PARTITION_BITS fixed partitions (the top bits of `keyHash`), and every
 * key of a partition has the preference list of the partition's first
 * position (Riak's fixed partitions; Cassandra's token ranges). A partition
 * never straddles two owners, so the store can keep a digest per partition,
 * up to date on every write, that is valid for any ring (anti-entropy).
 * 65,536 partitions: a peer's share moves by well under 1 % from the plain
 * continuum, and the per-partition state is 12 bytes each.
 */
export const PARTITION_BITS = 16

/** Number of partitions of the ring. */
export const PARTITIONS = 2 ** PARTITION_BITS
