// The instances of one stage on one peer: started through the InstanceHost
// (setup may fail: backoff before the next try), each running one packet at
// a time with more handed to it beforehand (so that packets cross to its
// thread or process in batches, not one round trip each: as many as its
// measured run time allows, core/run-ahead.ts); idle since when, for the
// scale rules.
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Random } from '../common/random.js'
import { backoffMs } from '../jobs/index.js'
import { RETRY_BASE_MS, RETRY_CAP_MS, RUN_AHEAD_MS, RUN_AHEAD_START, SOURCE_PULL_MAX } from './constants.js'
import { nextAverage, runAhead, type RunAheadInit } from './core/run-ahead.js'
import type { StageStats } from './stage-stats.js'
import type { InstanceHost, LifecycleEvent, Packet, RunOutcome, StageInstance } from './types.js'

export interface Slot {
  readonly instance: StageInstance
  /** Calls handed to it and not yet released: the packet it runs and those queued behind it (0: idle). */
  claims: number
  idleSince: number
  /** Its runs' average duration (from its previous run's end when they queued), ms; undefined before the first. */
  avgRunMs?: number
  /** When its last run ended (monotonic ms). */
  lastDoneAt?: number
}

export interface InstancesHost { instanceHost: InstanceHost, clock: Clock, random: Random, log: Logger }

export class Instances {
  private readonly slots: Slot[] = []
  private startingCount = 0
  private setupFailures = 0
  private retryAt?: number

  private readonly ahead: RunAheadInit

  constructor (
    private readonly stage: string,
    private readonly host: InstancesHost,
    private readonly stats: StageStats,
    private readonly hooks: { onReady: () => void, onRetry: () => void },
    runAhead = 0
  ) {
    this.ahead = { max: Math.max(0, Math.floor(runAhead)), aheadMs: RUN_AHEAD_MS, start: RUN_AHEAD_START }
  }

  get count (): number { return this.slots.length }
  get starting (): number { return this.startingCount }
  /** No start before this (a setup failed), ms. */
  get notBefore (): number | undefined { return this.retryAt }

  idle (): Slot[] { return this.slots.filter(s => s.claims === 0) }
  /** Packets handed to instances beyond the one each runs (a backlog too, for scaling). */
  get queued (): number {
    let n = 0
    for (const s of this.slots) if (s.claims > 1) n += s.claims - 1
    return n
  }

  /** The least loaded instance that can take one more call (the one it runs and its run-ahead), or undefined. */
  free (): Slot | undefined {
    let best: Slot | undefined
    for (const s of this.slots) if (s.claims <= runAhead(s.avgRunMs, this.ahead) && (best === undefined || s.claims < best.claims)) best = s
    return best
  }

  claim (slot: Slot): void { slot.claims++ }
  release (slot: Slot): void {
    if (slot.claims === 0) return
    if (--slot.claims === 0) slot.idleSince = this.host.clock.now()
  }

  /** Starts one instance; `isCurrent` says whether it is still wanted once setup finished. */
  startOne (isCurrent: () => boolean): void {
    this.startingCount++
    this.host.instanceHost.start(this.stage).then(instance => {
      this.startingCount--
      this.setupFailures = 0
      this.retryAt = undefined
      if (!isCurrent()) { void instance.stop('kill').catch(() => {}); return }
      const slot: Slot = { instance, claims: 0, idleSince: this.host.clock.now() }
      this.slots.push(slot)
      instance.onExit(reason => this.lost(slot, reason))
      this.hooks.onReady()
    }, err => {
      this.startingCount--
      this.setupFailures++
      const wait = backoffMs(this.setupFailures, this.host.random, { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS })
      this.retryAt = this.host.clock.now() + wait
      const msg = err instanceof Error ? err.message : String(err)
      this.stats.failed(`setup: ${msg}`)
      this.host.log.warn({ stage: this.stage, err: msg, retryInMs: wait }, 'stage instance failed to start')
      this.host.clock.setTimeout(() => this.hooks.onRetry(), wait)
    })
  }

  async run (slot: Slot, packet: Packet): Promise<RunOutcome> {
    const clock = this.host.clock
    const handedAt = clock.monotonic()
    const outcome = await slot.instance.run(packet)
    // Runs go one at a time: a queued one started when the one before it ended.
    const now = clock.monotonic()
    slot.avgRunMs = nextAverage(slot.avgRunMs, now - Math.max(handedAt, slot.lastDoneAt ?? handedAt))
    slot.lastDoneAt = now
    return outcome
  }

  async pull (slot: Slot): Promise<{ items: RunOutcome['emitted'], done: boolean }> {
    if (slot.instance.pull === undefined) return { items: [], done: true }
    return await slot.instance.pull(SOURCE_PULL_MAX)
  }

  /** A custom event in every instance. */
  async event (name: string, args: unknown): Promise<RunOutcome[]> {
    const outcomes = await Promise.allSettled(this.slots.map(async s => await s.instance.event(name, args)))
    const out: RunOutcome[] = []
    for (const o of outcomes) {
      if (o.status === 'fulfilled') { out.push(o.value); if (!o.value.ok) this.stats.failed(`${name}: ${o.value.error ?? 'failed'}`) } else this.stats.failed(`${name}: ${String(o.reason)}`)
    }
    return out
  }

  /** Stops an idle instance (scaling down). */
  stopIdle (slot: Slot): void {
    const i = this.slots.indexOf(slot)
    if (i < 0 || slot.claims > 0) return
    this.slots.splice(i, 1)
    void slot.instance.stop('drain').catch(err => this.host.log.warn({ err, stage: this.stage }, 'instance stop failed'))
  }

  async stopAll (how: Extract<LifecycleEvent, 'kill'> | 'drain'): Promise<void> {
    const all = this.slots.splice(0)
    await Promise.allSettled(all.map(async s => { await s.instance.stop(how) }))
  }

  private lost (slot: Slot, reason: string): void {
    const i = this.slots.indexOf(slot)
    if (i < 0) return
    this.slots.splice(i, 1)
    this.stats.failed(`instance exited: ${reason}`)
    this.host.log.warn({ stage: this.stage, reason }, 'stage instance exited')
    this.hooks.onRetry()
  }
}
