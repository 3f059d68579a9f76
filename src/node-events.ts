import type { Clock } from './common/clock.js'
import type { Logger } from './common/logger.js'
import type { PmzConfig } from './config/index.js'
import { ClusterEventFeed, type ClusterEvents, type JobTableSource, type NetworkView } from './http/index.js'
import type { Membership } from './mesh/membership/index.js'
import type { NodeCoordinator } from './node-coordinator.js'
import type { Store } from './store/index.js'

/**
 * The event feed of `GET /events`, wired to the peer's membership,
 * coordinator, store and (on a coordinator-role peer) job table. Started
 * before the gateway, stopped after it.
 */
export function createNodeEvents (config: PmzConfig, id: string, deps: {
  membership: Membership, network: NetworkView, coordinator: NodeCoordinator, store: Store, clock: Clock, log: Logger
}): ClusterEvents {
  const { coordinator } = deps
  const table = coordinator.jobs?.table
  const jobs: JobTableSource | undefined = coordinator.jobs === undefined || table === undefined
    ? undefined
    : {
        onApplied: fn => coordinator.jobs?.coordinator.onApplied(fn) ?? (() => {}),
        job: jobId => table.get(jobId),
        schedule: scheduleId => table.schedule(scheduleId),
        batch: batchId => {
          const batch = table.batch(batchId)
          return batch === undefined ? undefined : { batch, tasks: table.batchTasks(batchId) }
        }
      }
  return new ClusterEventFeed({
    membership: deps.membership,
    network: deps.network,
    coordinator,
    store: deps.store,
    ...(jobs !== undefined ? { jobs } : {}),
    clock: deps.clock,
    log: deps.log.child({ component: 'http.events' })
  }, {
    peerId: id,
    bufferEvents: config.http.eventsBuffer,
    keyEventsPerSecond: config.http.eventsKeyRate,
    streamQueueBytes: config.http.eventsQueueKb * 1024
  })
}
