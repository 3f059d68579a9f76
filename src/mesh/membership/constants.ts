// Defaults of SWIM membership, tuned for a LAN: a peer killed with SIGKILL is
// dead on every other peer of a 5-peer cluster within about 2.5 s (one probe
// round to notice, Lifeguard suspicion of 1 s once two others confirm, a gossip
// round to spread). Every value can be overridden through MembershipInit.

/** Version of the membership wire messages; a message with another `v` is rejected. */
export const SWIM_VERSION = 1
/** Cluster name carried by every message; messages of another cluster are ignored. */
export const CLUSTER_NAME = 'pmz'

/** Base period of the failure detector: one member is probed per round, ms (scaled by local health). */
export const PROBE_INTERVAL_MS = 200
/** How long a direct ping waits for its ack before asking others to probe, ms (scaled by local health). */
export const PROBE_TIMEOUT_MS = 100
/** Peers asked to ping a member that missed a direct ping (SWIM 4.2, `k`). */
export const INDIRECT_PROBES = 3

/** Suspicion timeout multiplier: base timeout = mult x max(1, log10(n + 1)) x probe interval (memberlist). */
export const SUSPICION_MULT = 4
/** Floor of the base suspicion timeout, ms: what a small cluster waits once enough peers confirm. */
export const SUSPICION_MIN_MS = 1_000
/** Lifeguard: a suspicion starts at this multiple of the base timeout and shrinks to it as peers confirm. */
export const SUSPICION_MAX_MULT = 3

/** Each update is retransmitted mult x ceil(log10(n + 1)) times (memberlist's RetransmitMult). */
export const RETRANSMIT_MULT = 4
/**
 * Floor of the retransmissions: memberlist's formula gives 4 below 10 members, which is 1.3 gossip
 * rounds; in a 5-peer cluster every informed peer then misses a given one about 1 time in 60.
 */
export const MIN_RETRANSMITS = 8
/** Updates piggybacked on one message at most. */
export const MAX_UPDATES_PER_MESSAGE = 16

/** Period of the gossip rounds that push pending updates besides the probes, ms (Serf: 200 ms). */
export const GOSSIP_INTERVAL_MS = 200
/** Random members each gossip round sends to (Serf: 3). */
export const GOSSIP_NODES = 3
/** Dead members still receive gossip this long after they died, so that a healed one learns it and refutes, ms. */
export const GOSSIP_TO_DEAD_MS = 30_000

/** Period of the full state exchange with one random member, ms; scaled up above 32 members (memberlist). */
export const PUSH_PULL_INTERVAL_MS = 15_000
/** Members above which the push-pull interval grows with log2(n). */
export const PUSH_PULL_SCALE_THRESHOLD = 32
/** A join is followed by one more full exchange, with another member, this long after, ms (catches concurrent joins). */
export const JOIN_FOLLOW_UP_MS = 2_000
/** Least time between two exchanges started because an unknown or dead peer wrote to this one, ms. */
export const REPAIR_COOLDOWN_MS = 5_000
/** Deadline of a join or push-pull exchange, ms. */
export const SYNC_TIMEOUT_MS = 3_000

/** Dead and left members are kept (and listed) this long, then forgotten, ms. */
export const DEAD_RETENTION_MS = 30_000
/** How often forgotten members are swept, ms. */
export const REAP_INTERVAL_MS = 1_000

/** Lifeguard local health: probe interval and timeout are scaled by (score + 1), score < this. */
export const AWARENESS_MAX_MULT = 8
/** Members told directly of a graceful leave before this peer stops (they gossip it on). */
export const LEAVE_FANOUT = 8
/** How long a leaving peer waits for those members to acknowledge its leave before it stops anyway, ms. */
export const LEAVE_TIMEOUT_MS = 1_000
/** Foreign-cluster addresses remembered for log-once; past it, the set is cleared. */
export const FOREIGN_LOG_LIMIT = 1_024
