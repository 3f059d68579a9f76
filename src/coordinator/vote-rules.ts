import type { VoteRequest } from './messages.js'

/** What a server knows when a (pre-)vote request arrives. */
export interface VoterState {
  term: number
  votedFor: string | null
  lastLogIndex: number
  lastLogTerm: number
  /** It leads, or heard from a leader within the minimum election timeout. */
  hasLiveLeader: boolean
  /** It knows some leader of its term. */
  knowsLeader: boolean
}

export interface VoteDecision {
  granted: boolean
  /** Term to put in the reply. */
  term: number
  /** A newer term to adopt (forgetting the vote) before recording the vote. */
  adoptTerm?: number
}

/**
 * The vote rules, pure. Raft §5.2 and §5.4.1: one vote per term, only for a
 * candidate whose log is at least as up to date. Thesis §9.6, pre-vote: the
 * same question asked for `term` without changing anything. Thesis §4.2.3:
 * a server with a live leader ignores both, so a partitioned, rejoining or
 * removed server cannot depose a healthy leader.
 */
export function decideVote (s: VoterState, req: VoteRequest, candidate: string): VoteDecision {
  if (req.term < s.term || s.hasLiveLeader) return { granted: false, term: s.term }
  const upToDate = req.lastLogTerm > s.lastLogTerm || (req.lastLogTerm === s.lastLogTerm && req.lastLogIndex >= s.lastLogIndex)
  if (req.pre) {
    const free = req.term > s.term || (!s.knowsLeader && (s.votedFor ?? candidate) === candidate)
    return upToDate && free ? { granted: true, term: req.term } : { granted: false, term: s.term }
  }
  const newer = req.term > s.term
  const votedFor = newer ? null : s.votedFor
  const granted = upToDate && (votedFor === null || votedFor === candidate)
  return { granted, term: req.term, ...(newer ? { adoptTerm: req.term } : {}) }
}
