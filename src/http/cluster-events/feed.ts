import type { Timer } from '../../common/clock.js'
import type { JobCommand, JobResult } from '../../jobs/index.js'
import type { Key, KeyChange, RepairEvent, Store } from '../../store/index.js'
import { BATCH_EVENT_EVERY_MS, EVENT_BUFFER_EVENTS, KEY_EVENTS_PER_SECOND, STREAM_QUEUE_BYTES } from './constants.js'
import { EventLog } from './event-log.js'
import { RateSampler } from './sampler.js'
import type { Topic } from './topics.js'
import type { ClusterEvents, ClusterEventsComponents, ClusterEventsInit } from './types.js'
import { PeerChanges, batchEvent, jobEvent, keyEvent, scheduleEvent, touchedBy } from './views.js'

/**
 * The collector of `GET /events`: subscribes to membership, the
 * coordinator, the store (keys and repair) and the job table, and records
 * what happens in one bounded EventLog that every stream of this peer reads.
 * Key events are sampled here (KEY_EVENTS_PER_SECOND, then one `sampled`
 * event a second while dropping), so the log, and so every stream, stays
 * within the limit; batch events are coalesced to one per
 * BATCH_EVENT_EVERY_MS per batch.
 */
export class ClusterEventFeed implements ClusterEvents {
  readonly peerId: string
  readonly log: EventLog
  readonly streamQueueBytes: number
  private readonly keys: RateSampler
  private readonly peers = new PeerChanges()
  private leaderSig = ''
  private offs: Array<() => void> = []
  private sampledTimer: Timer | undefined
  private readonly batchDue = new Map<number, Timer>()
  private readonly batchSent = new Map<number, number>()
  private started = false

  constructor (private readonly c: ClusterEventsComponents, init: ClusterEventsInit) {
    this.peerId = init.peerId
    // Ids start above every id of this peer's earlier lives (see EventLog).
    this.log = new EventLog(init.bufferEvents ?? EVENT_BUFFER_EVENTS, c.clock.now() * 1000 + 1)
    this.keys = new RateSampler(init.keyEventsPerSecond ?? KEY_EVENTS_PER_SECOND, 1000)
    this.streamQueueBytes = init.streamQueueBytes ?? STREAM_QUEUE_BYTES
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const { membership, coordinator, store, jobs } = this.c
    this.leaderSig = this.leaderSignature()
    this.offs = [
      membership.on('peer:change', e => {
        const ev = this.peers.next(e)
        if (ev !== undefined) this.record('peers', ev)
      }),
      coordinator.onLeaderChange(() => { this.onLeader() }),
      store.on('key:change', change => { this.onKey(change) }),
      ...(store.onRepair === undefined ? [] : [store.onRepair(e => { this.onRepair(e) })]),
      ...(jobs === undefined ? [] : [jobs.onApplied((command, result) => { this.onApplied(command, result) })])
    ]
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const off of this.offs.splice(0)) off()
    this.sampledTimer?.cancel()
    this.sampledTimer = undefined
    for (const t of this.batchDue.values()) t.cancel()
    this.batchDue.clear()
  }

  async snapshot (topic: Topic): Promise<Record<string, unknown> | undefined> {
    if (topic === 'peers') {
      let peers: unknown[] = []
      try {
        peers = await this.c.network.peers()
      } catch (err) {
        this.c.log.debug({ err }, 'peers snapshot failed')
      }
      return { type: 'snapshot', peers }
    }
    if (topic === 'coordinator') return { type: 'snapshot', ...this.c.coordinator.leader() }
    return undefined
  }

  observe (store: Store): Store {
    const elsewhere = (key: Key): boolean => {
      const replicas = this.c.store.replicasOf?.(key)
      return replicas !== undefined && !replicas.includes(this.peerId)
    }
    return new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'put') {
          return async (...args: Parameters<Store['put']>) => {
            const meta = await target.put(...args)
            if (elsewhere(meta.key)) this.onKey({ type: 'put', meta })
            return meta
          }
        }
        if (prop === 'delete') {
          return async (key: Key) => {
            await target.delete(key)
            if (elsewhere(key)) this.onKey({ type: 'delete', key, reason: 'deleted' })
          }
        }
        const v: unknown = Reflect.get(target, prop, target)
        return typeof v === 'function' ? v.bind(target) : v
      }
    })
  }

  private record (topic: Topic, data: Record<string, unknown>): void {
    if (!this.started) return
    this.log.append(topic, data)
  }

  private leaderSignature (): string {
    const l = this.c.coordinator.leader()
    return `${l.leader ?? ''}|${l.term}`
  }

  private onLeader (): void {
    const sig = this.leaderSignature()
    if (sig === this.leaderSig) return
    this.leaderSig = sig
    this.record('coordinator', { type: 'leader', ...this.c.coordinator.leader() })
  }

  private onKey (change: KeyChange): void {
    if (!this.started) return
    if (this.keys.offer(this.c.clock.monotonic())) {
      this.record('keys', keyEvent(change))
      return
    }
    // Dropping: the count goes out once a second while it lasts.
    this.sampledTimer ??= this.c.clock.setTimeout(() => {
      this.sampledTimer = undefined
      const dropped = this.keys.takeDropped()
      if (dropped > 0) this.record('keys', { type: 'sampled', dropped })
    }, 1000)
  }

  private onRepair (e: RepairEvent): void {
    this.record('ring', e.type === 'ring' ? { type: 'ring', peers: [...e.peers] } : { ...e })
  }

  private onApplied (command: JobCommand, result: JobResult | undefined): void {
    const jobs = this.c.jobs
    if (jobs === undefined || !this.started) return
    const touched = touchedBy(command, result)
    for (const id of touched.jobs) {
      const job = jobs.job(id)
      if (job === undefined) continue
      this.record('jobs', jobEvent(job))
      if (job.batchId !== undefined) touched.batches.add(job.batchId)
    }
    for (const [id, fired] of touched.schedules) {
      const s = jobs.schedule(id)
      if (s !== undefined) this.record('schedules', scheduleEvent(s, fired))
    }
    for (const id of touched.batches) this.batchChanged(id)
  }

  /** Records the batch now, or once BATCH_EVENT_EVERY_MS has passed since its last event. */
  private batchChanged (batchId: number): void {
    if (this.batchDue.has(batchId) || this.c.jobs?.batch(batchId) === undefined) return
    const wait = (this.batchSent.get(batchId) ?? Number.NEGATIVE_INFINITY) + BATCH_EVENT_EVERY_MS - this.c.clock.monotonic()
    if (wait <= 0) {
      this.sendBatch(batchId)
      return
    }
    this.batchDue.set(batchId, this.c.clock.setTimeout(() => {
      this.batchDue.delete(batchId)
      this.sendBatch(batchId)
    }, wait))
  }

  private sendBatch (batchId: number): void {
    const r = this.c.jobs?.batch(batchId)
    if (r === undefined) {
      this.batchSent.delete(batchId)
      return
    }
    const ev = batchEvent(r, this.c.clock.now())
    this.record('batches', ev)
    // A batch that ended has no more coarse updates to space out.
    if (ev.state === 'done' || ev.state === 'cancelled') this.batchSent.delete(batchId)
    else this.batchSent.set(batchId, this.c.clock.monotonic())
  }
}
