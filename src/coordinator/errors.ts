import { PmzError } from '../common/errors.js'

/** "Not the coordinator": names the leader this peer knows, if any, so a caller can go there. */
export function notLeader (known: { leaderId: string | undefined, leaderAddress: string | undefined }): PmzError {
  return new PmzError('ERR_NO_COORDINATOR', 'this peer is not the coordinator', {
    details: { notLeader: true, leader: known.leaderId, address: known.leaderAddress }
  })
}

/** No leader, or no quorum, within the deadline. */
export function noCoordinator (message: string, details: Record<string, unknown> = {}): PmzError {
  return new PmzError('ERR_NO_COORDINATOR', message, { details })
}
