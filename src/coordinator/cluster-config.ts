import { PmzError } from '../common/errors.js'
import type { ClusterConfig } from './entry.js'

/** A single-server membership change (Raft thesis §4.1: one server at a time keeps every two majorities overlapping). */
export type ConfigChange =
  | { op: 'addVoter', peerId: string, address: string }
  | { op: 'addLearner', peerId: string, address: string }
  /** Removes a voter or a learner. */
  | { op: 'removeVoter', peerId: string }

export const isVoter = (c: ClusterConfig, peerId: string): boolean => Object.hasOwn(c.voters, peerId)
export const isLearner = (c: ClusterConfig, peerId: string): boolean => Object.hasOwn(c.learners, peerId)
export const voterIds = (c: ClusterConfig): string[] => Object.keys(c.voters)

/** Votes (or acknowledgements) needed among the voters of `c`. */
export function quorum (c: ClusterConfig): number {
  return Math.floor(Object.keys(c.voters).length / 2) + 1
}

/** True when the voters in `acks` form a majority of `c`'s voters. */
export function hasQuorum (c: ClusterConfig, acks: Iterable<string>): boolean {
  let n = 0
  for (const id of acks) if (isVoter(c, id)) n++
  return n >= quorum(c)
}

/** Every other server that receives the log (voters and learners but `self`), with its address. */
export function replicas (c: ClusterConfig, self: string): Array<[string, string]> {
  return [...Object.entries(c.voters), ...Object.entries(c.learners)].filter(([id]) => id !== self)
}

/** The highest index stored on a majority of voters, given each voter's match index. */
export function majorityMatch (c: ClusterConfig, matchOf: (peerId: string) => number): number {
  const matches = voterIds(c).map(matchOf).sort((a, b) => b - a)
  return matches.length === 0 ? 0 : matches[quorum(c) - 1]
}

/**
 * The configuration after `change`; throws when the change makes no sense.
 * Adding a voter that is a learner promotes it; adding one that is already
 * there in the same role changes nothing (returns undefined).
 */
export function applyChange (c: ClusterConfig, change: ConfigChange, maxVoters: number): ClusterConfig | undefined {
  const voters = { ...c.voters }
  const learners = { ...c.learners }
  switch (change.op) {
    case 'addVoter':
      if (voters[change.peerId] === change.address) return undefined
      if (!isVoter(c, change.peerId) && Object.keys(voters).length >= maxVoters) {
        throw new PmzError('ERR_CONFLICT', `the cluster has ${maxVoters} voters already`, { details: { peerId: change.peerId, maxVoters } })
      }
      delete learners[change.peerId]
      voters[change.peerId] = change.address
      break
    case 'addLearner':
      if (learners[change.peerId] === change.address) return undefined
      if (isVoter(c, change.peerId)) throw new PmzError('ERR_CONFLICT', 'peer is a voter; remove it first', { details: { peerId: change.peerId } })
      learners[change.peerId] = change.address
      break
    case 'removeVoter':
      if (!isVoter(c, change.peerId) && !isLearner(c, change.peerId)) return undefined
      if (isVoter(c, change.peerId) && Object.keys(voters).length === 1) {
        throw new PmzError('ERR_CONFLICT', 'cannot remove the last voter', { details: { peerId: change.peerId } })
      }
      delete voters[change.peerId]
      delete learners[change.peerId]
      break
  }
  return { voters, learners }
}
