// The schedules of the job table (issue 15), deterministic like the rest of
// apply: every time comes from the command. A firing and the job it queues
// are one apply, so no coordinator can die between deciding a tick and
// queueing its job; a tick is decided once (lastTick only grows).
import { MAX_EXECUTIONS } from './constants.js'
import type { Execution, FireCommand, JobTemplate, Schedule, ScheduleCommand } from './schedule-types.js'
import type { JobOutcome } from './types.js'

/** What the book needs of the job table. */
export interface JobHost {
  /** Takes `id` as the next id of the sequence (false: it is taken). */
  takeId(id: number): boolean
  /** Queues a job of the template, with the next id; returns it. */
  fire(template: JobTemplate, at: number, from: { scheduleId: number, firedAt: number, waitsFor?: number }): number
  /** Whether the job exists and is not final. */
  isActive(jobId: number): boolean
  /** Cancels the schedule's firings that wait for a peer. */
  cancelWaiting(scheduleId: number, at: number): void
}

export class ScheduleBook {
  private schedules = new Map<number, Schedule>()
  private bySeed = new Map<string, number>()

  constructor (private readonly host: JobHost) {}

  get (id: number): Schedule | undefined { return this.schedules.get(id) }
  has (id: number): boolean { return this.schedules.has(id) }
  /** Schedules, newest first. */
  list (): Schedule[] { return [...this.schedules.values()].reverse() }
  /** The live schedule registered from a seed, if any. */
  ofSeed (seed: string): Schedule | undefined {
    const id = this.bySeed.get(seed)
    return id === undefined ? undefined : this.schedules.get(id)
  }

  add (op: ScheduleCommand & { scheduleId: number }): JobOutcome {
    const existing = this.schedules.get(op.scheduleId)
    if (existing !== undefined && existing.createdAt === op.at) return { ok: true, changed: false, jobId: op.scheduleId } // the same proposal again
    if (op.fromSeed !== undefined) {
      const live = this.ofSeed(op.fromSeed)
      if (live !== undefined) return { ok: true, changed: false, jobId: live.scheduleId, deduped: true }
    }
    if (!this.host.takeId(op.scheduleId)) return { ok: false, code: 'ERR_CONFLICT', message: `id ${op.scheduleId} is taken`, jobId: op.scheduleId }
    const s: Schedule = {
      scheduleId: op.scheduleId, template: op.template, spec: op.spec, state: 'scheduled', createdAt: op.at, updatedAt: op.at,
      anchor: op.at, lastTick: op.at, executions: [], fired: 0, skipped: 0
    }
    if (op.dedupKey !== undefined) s.dedupKey = op.dedupKey
    if (op.fromSeed !== undefined) {
      s.fromSeed = op.fromSeed
      this.bySeed.set(op.fromSeed, s.scheduleId)
    }
    this.schedules.set(s.scheduleId, s)
    return { ok: true, changed: true, jobId: s.scheduleId }
  }

  fire (op: FireCommand): JobOutcome {
    const s = this.schedules.get(op.scheduleId)
    if (s === undefined) return { ok: false, code: 'ERR_NOT_FOUND', message: `schedule ${op.scheduleId} not found`, jobId: op.scheduleId }
    const fired: number[] = []
    if (s.state !== 'scheduled') return { ok: true, changed: false, jobId: s.scheduleId, fired }
    let changed = false
    if (op.skipThrough !== undefined && op.skipThrough > s.lastTick) {
      s.lastTick = op.skipThrough
      changed = true
    }
    for (const tick of [...op.ticks].sort((a, b) => a - b)) {
      if (tick <= s.lastTick || s.state !== 'scheduled') continue
      s.lastTick = tick
      changed = true
      const previous = s.lastJobId
      const running = previous !== undefined && this.host.isActive(previous)
      if (running && s.spec.overlap === 'skip') {
        this.record(s, { tick, skipped: 'overlap' })
        s.skipped++
      } else {
        const waitsFor = running && s.spec.overlap === 'queue' ? previous : undefined
        const template = op.seedHash === undefined ? s.template : { ...s.template, seedHash: op.seedHash }
        const jobId = this.host.fire(template, op.at, { scheduleId: s.scheduleId, firedAt: tick, ...(waitsFor !== undefined ? { waitsFor } : {}) })
        this.record(s, { tick, jobId })
        s.lastJobId = jobId
        s.fired++
        fired.push(jobId)
      }
      if (s.spec.once) s.state = 'done'
    }
    if (changed) s.updatedAt = op.at
    return { ok: true, changed, jobId: s.scheduleId, fired }
  }

  /** Cancels a schedule: no tick fires any more, its waiting firings are cancelled; idempotent. */
  cancel (id: number, at: number): JobOutcome {
    const s = this.schedules.get(id)
    if (s === undefined) return { ok: false, code: 'ERR_NOT_FOUND', message: `schedule ${id} not found`, jobId: id }
    if (s.state === 'canceled') return { ok: true, changed: false, jobId: id }
    s.state = 'canceled'
    s.cancelledAt = s.updatedAt = at
    if (s.fromSeed !== undefined && this.bySeed.get(s.fromSeed) === id) this.bySeed.delete(s.fromSeed)
    this.host.cancelWaiting(id, at)
    return { ok: true, changed: true, jobId: id }
  }

  /** Drops schedules that ended (cancelled or done) before `before`; how many. */
  prune (before: number): number {
    let n = 0
    for (const [id, s] of this.schedules) {
      if (s.state !== 'scheduled' && s.updatedAt < before) {
        this.schedules.delete(id)
        n++
      }
    }
    return n
  }

  snapshot (): Schedule[] { return [...this.schedules.values()] }

  restore (schedules: Schedule[] | undefined): void {
    this.schedules = new Map((schedules ?? []).map(s => [s.scheduleId, s]))
    this.bySeed = new Map()
    for (const s of this.schedules.values()) if (s.fromSeed !== undefined && s.state !== 'canceled') this.bySeed.set(s.fromSeed, s.scheduleId)
  }

  private record (s: Schedule, e: Execution): void {
    s.executions.push(e)
    if (s.executions.length > MAX_EXECUTIONS) s.executions.splice(0, s.executions.length - MAX_EXECUTIONS)
  }
}
