/** Wire version of the raft.* messages; a message with another `v` is rejected. */
export const RAFT_WIRE_VERSION = 1
/**
 * Interval of the leader's heartbeats (empty AppendEntries), ms. A third of
 * the shortest election timeout: a follower still hears two heartbeats before
 * it may time out, and how soon a dead leader is noticed is the election
 * timeout's business, not this. An idle cluster's messages are mostly these
 * (at 75 ms, 53 a second in and out of the leader against its 20 of SWIM),
 * and each costs about 100 µs of CPU at that rate (a wake-up, zeromq.js,
 * msgpack); at 150 ms an idle leader went from 0.026-0.030 of a core to
 * 0.022, a follower from 0.021-0.025 to 0.018-0.019 (3 peers, no keys).
 */
export const HEARTBEAT_MS = 150
/**
 * Lower bound of the randomized election timeout, ms; the timeout is drawn
 * from [min, 2 * min). Raft §5.2: well above a round trip, well below the
 * time between failures — and above the event-loop stalls of a peer on an
 * oversubscribed machine (at 300 ms, a 3-peer cluster running 192 job slots
 * on 2 cores re-elected its leader every second or two; a failover still
 * fits in the schedules' 2 s gap).
 */
export const ELECTION_TIMEOUT_MS = 500
/** Deadline of a vote or append request, as a multiple of the heartbeat interval. */
export const RPC_TIMEOUT_HEARTBEATS = 2
/** Deadline of an InstallSnapshot request, ms, plus one ms per SNAPSHOT_BYTES_PER_MS bytes of snapshot. */
export const SNAPSHOT_RPC_TIMEOUT_MS = 1_000
/** Slowest transfer rate a snapshot deadline allows for, bytes per ms (1 MB/s). */
export const SNAPSHOT_BYTES_PER_MS = 1_000
/** AppendEntries requests a leader keeps in flight to a follower that is caught up (pipelining). */
export const MAX_INFLIGHT_APPENDS = 4
/** Entries in one AppendEntries request at most. */
export const MAX_APPEND_ENTRIES = 1_024
/** Approximate payload bytes of one AppendEntries request at most (the transport caps frames at 4 MiB). */
export const MAX_APPEND_BYTES = 1024 * 1024
/** Entries applied since the last snapshot that trigger a new snapshot and compaction of the log prefix. */
export const SNAPSHOT_THRESHOLD_ENTRIES = 1_024
/** Deadline of propose() and read() when the caller gives none, ms. */
export const PROPOSE_TIMEOUT_MS = 3_000
/** Deadline of addVoter/removeVoter/addLearner when the caller gives none (includes a learner catching up), ms. */
export const CONFIG_CHANGE_TIMEOUT_MS = 10_000
/** Voters in a configuration at most; further coordinator-role peers become learners. */
export const MAX_VOTERS = 5
/** How long a voter must be dead (per membership) before the VoterManager removes it, ms. */
export const DEAD_VOTER_GRACE_MS = 30_000
/** How long a VoterManager watches membership before the lowest peer bootstraps a new cluster, ms. */
export const BOOTSTRAP_DELAY_MS = 3_000
