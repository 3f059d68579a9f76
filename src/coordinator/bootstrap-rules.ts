/**
 * When a peer with an empty raft log may write the first configuration of a
 * new coordinator cluster (pure; see `[coordinator] bootstrap_expect` in
 * config/server.conf). Two clusters bootstrapped side by side can each
 * commit entries, and the loser's are lost when they merge (issue 13), so
 * every rule below lets at most one peer bootstrap; everyone else waits for
 * the cluster's leader to add it (VoterManager.nextChange).
 *
 * - `expect` > 1 (Consul's bootstrap_expect): once `expect` coordinator-role
 *   peers, self included, are alive and none is in a cluster, the lowest id
 *   among them bootstraps alone. At most one does as long as no more than
 *   `expect` peers start without a cluster: a second one would have to see
 *   `expect` peers above it, which leaves no room for the lower one.
 * - `expect` = 1, with a static join list: never; the peer joins a cluster.
 * - `expect` = 1, no join list, no mDNS/broadcast: at once (a lone peer, or
 *   the seed the others `--join`; nobody else can bootstrap beside it).
 * - `expect` = 1, no join list, mDNS or broadcast: after a quiet period
 *   without new candidates, the lowest id among the peers that may bootstrap.
 *   Best effort (peers that find each other late can still both bootstrap):
 *   use `expect` for a guarantee.
 */
export interface BootstrapPolicy {
  /** Coordinator-role peers, self included, to see before the lowest of them bootstraps; 1 = the join/discovery rules. */
  expect: number
  /** This peer has a static join list. */
  joins: boolean
  /** mDNS or broadcast discovery may still bring peers this one does not know. */
  discovers: boolean
  /** Time without a new candidate before a discovering peer bootstraps, ms. */
  quietMs: number
}

/** Another alive coordinator-role peer, as bootstrap sees it. */
export interface BootstrapCandidate {
  peerId: string
  /** It already belongs to a coordinator cluster: never bootstrap beside it. */
  clustered?: boolean
  /** It may bootstrap itself (false for a peer that waits to be added); unknown counts as true. */
  bootstrapper?: boolean
}

export interface BootstrapView {
  selfId: string
  now: number
  /** When the set of candidates last changed (the start counts), ms. */
  changedAt: number
  /** This peer's raft log is not empty. */
  hasLog: boolean
  candidates: readonly BootstrapCandidate[]
}

/** Whether this peer could ever bootstrap (published to the others as meta `coordinatorBootstrap`). */
export const mayBootstrap = (p: BootstrapPolicy): boolean => p.expect > 1 || !p.joins

export function shouldBootstrap (p: BootstrapPolicy, v: BootstrapView): boolean {
  if (v.hasLog || v.candidates.some(c => c.clustered === true)) return false
  if (p.expect > 1) return v.candidates.length + 1 >= p.expect && isLowest(v.selfId, v.candidates)
  if (p.joins) return false
  if (!p.discovers) return true
  if (v.now - v.changedAt < p.quietMs) return false
  return isLowest(v.selfId, v.candidates.filter(c => c.bootstrapper !== false))
}

const isLowest = (selfId: string, others: readonly BootstrapCandidate[]): boolean => others.every(c => c.peerId > selfId)
