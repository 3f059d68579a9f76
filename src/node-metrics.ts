import { VERSION } from './common/version.js'
import { createPeerMetrics, type JobOutcomeLabel, type PeerMetrics } from './http/index.js'
import type { Membership } from './mesh/membership/index.js'
import type { NodeCoordinator } from './node-coordinator.js'
import type { AttemptEnd } from './node-jobs.js'
import { statDisk, type ReplicaStore, type Store } from './store/index.js'

export interface NodeMetrics {
  /** What the gateway serves at `/metrics`. */
  readonly metrics: PeerMetrics
  /** What the worker calls as each attempt it ran ends (createNodeJobs' `onAttempt`). */
  readonly onAttempt: (outcome: AttemptEnd) => void
}

/**
 * The metrics of a peer, wired to what its components already expose as
 * plain numbers (store stats, replication counters, membership, the Raft
 * status, the job table's counts), all read at scrape time: nothing here
 * runs on a write or a request.
 */
export function createNodeMetrics (deps: {
  peerId: string
  /** The replicated store (its repair counters) and this peer's own store (keys, bytes). */
  store: Store
  local: ReplicaStore
  /** Directory of the local store: the disk its free space is measured on. */
  storeDir: string
  membership: Membership
  coordinator: NodeCoordinator
}): NodeMetrics {
  const { coordinator, store } = deps
  const table = coordinator.jobs?.table
  const status = coordinator.status?.bind(coordinator)
  const metrics = createPeerMetrics({
    async store () {
      const stats = await deps.local.stats()
      const bytes = deps.local.partitions().heldBytes()
      const disk = statDisk(deps.storeDir)
      return { keys: stats.entries, records: stats.records ?? stats.entries, bytes, diskFreeBytes: disk.freeBytes, diskSizeBytes: disk.totalBytes, acceptingWrites: stats.disk?.accepting_writes ?? true }
    },
    ...(store.replicationStats !== undefined ? { replication: store.replicationStats.bind(store) } : {}),
    members: () => deps.membership.members(),
    ...(status !== undefined
      ? {
          raft: () => {
            const s = status()
            return { term: s.term, commitIndex: s.commitIndex, isLeader: s.role === 'leader', leaderChanges: s.leaderChanges }
          }
        }
      : {}),
    ...(table !== undefined
      ? {
          jobs: () => {
            const c = table.counts()
            return { queued: c.queued + c.retrying, running: c.assigned + c.running + c.cancelling }
          }
        }
      : {})
  }, { peerId: deps.peerId, version: VERSION })
  return { metrics, onAttempt: o => { metrics.observeJob(outcomeLabel(o), o.durationMs / 1000) } }
}

/** The label of how an attempt ended: a timeout is a failure of its own kind. */
export function outcomeLabel (o: Pick<AttemptEnd, 'state' | 'timedOut'>): JobOutcomeLabel {
  if (o.state === 'failed' && o.timedOut === true) return 'timeout'
  return o.state
}
