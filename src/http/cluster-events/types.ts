import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import type { Startable } from '../../common/startable.js'
import type { Batch, JobCommand, JobResult, JobView, Schedule } from '../../jobs/index.js'
import type { MembershipEvent } from '../../mesh/membership/index.js'
import type { Store } from '../../store/index.js'
import type { EventLog } from './event-log.js'
import type { Topic } from './topics.js'

/** The job table of a coordinator-role peer, as the event feed reads it. */
export interface JobTableSource {
  /** Each job command applied to this peer's replica, with the table's answer; returns the unsubscribe function. */
  onApplied(fn: (command: JobCommand, result?: JobResult) => void): () => void
  job(jobId: number): JobView | undefined
  schedule(scheduleId: number): Readonly<Schedule> | undefined
  /** The batch and its tasks still in the table (http/types.ts BatchRead). */
  batch(batchId: number): { batch: Readonly<Batch>, tasks: readonly JobView[] } | undefined
}

/** What the events come from: the components of the peer (node-events.ts wires them). */
export interface ClusterEventsComponents {
  membership: { on(event: 'peer:change', fn: (e: MembershipEvent) => void): () => void }
  /** admin/network's rows (http/types.ts NetworkView): the `peers` snapshot. */
  network: { peers(): Promise<unknown[]> }
  coordinator: {
    /** The coordinator and its term as this peer knows them. */
    leader(): { leader: string | null, term: number }
    onLeaderChange(fn: () => void): () => void
  }
  store: Pick<Store, 'on' | 'onRepair' | 'replicasOf'>
  /** Absent on a peer without the coordinator role: it has no job table (no jobs, schedules or batches events). */
  jobs?: JobTableSource
  clock: Clock
  log: Logger
}

export interface ClusterEventsInit {
  peerId: string
  /** Events kept for resuming clients. @default EVENT_BUFFER_EVENTS */
  bufferEvents?: number
  /** Key events recorded per second before sampling. @default KEY_EVENTS_PER_SECOND */
  keyEventsPerSecond?: number
  /** Bytes one stream may queue for a slow client before it is closed. @default STREAM_QUEUE_BYTES */
  streamQueueBytes?: number
}

/** The peer's event feed: what `GET /events` serves. */
export interface ClusterEvents extends Startable {
  readonly peerId: string
  readonly log: EventLog
  /** Bytes one stream may queue for a slow client. */
  readonly streamQueueBytes: number
  /** The snapshot event of a topic (peers, coordinator), or undefined for a topic without one. */
  snapshot(topic: Topic): Promise<Record<string, unknown> | undefined>
  /**
   * The store the gateway writes through: writes and deletes of keys this
   * peer holds no replica of are recorded too (the others arrive as the
   * local replica's changes).
   */
  observe(store: Store): Store
}
