// Placement of batch tasks (issue 16), pure: Pampa's limits per batch on
// top of place(). A task goes to a replica of its key first (phase one);
// with soft locality, a worker left with a free slot and nothing local to
// do takes tasks off their replicas once their batch has starved like this
// for localityWaitMs (phase two), so a healthy cluster reads its keys
// locally and only the tail of an uneven batch crosses the mesh.
import type { BatchLimits } from './batch-types.js'
import { DEFAULT_PER_WORKER_QUEUE } from './constants.js'
import { place, type Assignment, type PlacementGate, type PlacementInput, type PlacementJob } from './placement-rules.js'
import { LIVE_STATES, type JobState } from './types.js'

/** A waiting job as batch placement reads it; a JobView fits. */
export interface BatchPlacementJob extends PlacementJob {
  batchId?: number
}

export interface BatchPlacementInput extends PlacementInput {
  /** Waiting jobs in placement order, read lazily (JobTable.placeableInOrder): read whole only when a worker is left with a free slot. */
  jobs: Iterable<BatchPlacementJob>
  now: number
  /** The limits of a batch (JobTable.batch); undefined: none. */
  limitsOf: (batchId: number) => Readonly<BatchLimits> | undefined
  /** The live jobs (JobTable.liveJobs; jobs in other states are skipped): whose tasks count against the limits. */
  active: Iterable<{ batchId?: number, peerId?: string, state: JobState }>
  /** Tasks of a batch waiting for a peer (JobTable.waitingTasks); absent: counted from `jobs`, read whole. */
  pendingOf?: (batchId: number) => number
  /** Since when each batch starves for locality, as the previous pass said (BatchPlacement.starved). */
  starved?: ReadonlyMap<number, number>
}

export interface BatchPlacement {
  assignments: Assignment[]
  /** When a starving batch's tasks may first go to any worker (the driver wakes then). */
  wakeAt?: number
  /** Batch → since when it starves for locality: to give the next pass. */
  starved: Map<number, number>
}

/**
 * place() with the batches' limits and locality. Soft locality: a batch
 * "starves" while a worker with a free slot could take one of its waiting
 * tasks off the task's replicas and nothing local is left for that worker
 * (the second phase would place it); once it has starved for
 * localityWaitMs, those tasks go to any worker. The caller keeps `starved`
 * from one pass to the next. While every slot is taken (a busy cluster with
 * a backlog) nothing can starve and a pass reads only the jobs it places.
 */
export function placeWithBatches (input: BatchPlacementInput): BatchPlacement {
  const seen: BatchPlacementJob[] = []
  const source = input.jobs[Symbol.iterator]()
  const read = function * (): IterableIterator<BatchPlacementJob> {
    for (let r = source.next(); r.done !== true; r = source.next()) { seen.push(r.value); yield r.value }
  }
  const readAll = (): BatchPlacementJob[] => { for (const _ of read()); return seen } // eslint-disable-line no-empty
  const pendingOf = input.pendingOf ?? countPending(readAll())
  const gate = new BatchGate(input, pendingOf)
  const first = place({ ...input, jobs: seen.length > 0 ? [...seen] : read(), gate })
  const running = new Map<string, number>()
  for (const a of first) running.set(a.peerId, (running.get(a.peerId) ?? 0) + 1)
  // A worker with a slot of its own still free after phase one has no local task left (tasks handed ahead fill slots + perWorkerQueue first).
  const free = input.workers.some(w => w.running + (running.get(w.peerId) ?? 0) < w.slots)
  if (!free) return { assignments: first, starved: new Map() }
  const placed = new Set(first.map(a => a.jobId))
  const soft = readAll().filter(j => !placed.has(j.jobId) && gate.isSoft(j))
  if (soft.length === 0) return { assignments: first, starved: new Map() }
  const perSeed = new Map(input.runningPerSeed ?? [])
  const seedOf = new Map(seen.map(j => [j.jobId, j.seed]))
  for (const a of first) {
    const seed = seedOf.get(a.jobId) as string
    perSeed.set(seed, (perSeed.get(seed) ?? 0) + 1)
  }
  const rest = { ...input, workers: input.workers.map(w => ({ ...w, running: w.running + (running.get(w.peerId) ?? 0) })), runningPerSeed: perSeed }
  // Which batches a free worker could serve off-replica now: those starve.
  const batchOf = new Map(soft.map(j => [j.jobId, j.batchId as number]))
  const starved = new Map<number, number>()
  for (const a of place({ ...rest, jobs: soft, gate: gate.copy(true) })) {
    const b = batchOf.get(a.jobId) as number
    starved.set(b, input.starved?.get(b) ?? input.now)
  }
  let wakeAt: number | undefined
  const ripe = new Set<number>()
  for (const [b, since] of starved) {
    const at = since + (input.limitsOf(b)?.localityWaitMs ?? 0)
    if (at <= input.now) ripe.add(b)
    else if (wakeAt === undefined || at < wakeAt) wakeAt = at
  }
  const late = soft.filter(j => ripe.has(j.batchId as number))
  const second = late.length === 0 ? [] : place({ ...rest, jobs: late, gate: gate.copy(true) })
  return { assignments: [...first, ...second], starved, ...(wakeAt !== undefined ? { wakeAt } : {}) }
}

function countPending (jobs: readonly BatchPlacementJob[]): (batchId: number) => number {
  const pending = new Map<number, number>()
  for (const j of jobs) if (j.batchId !== undefined) pending.set(j.batchId, (pending.get(j.batchId) ?? 0) + 1)
  return id => pending.get(id) ?? 0
}

/** `*` any run of characters, `?` one; the rest literal. */
export function globToRegExp (glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

/** Live tasks per batch and peer, and waiting tasks per batch, as this pass changes them. */
class BatchGate implements PlacementGate {
  private live = new Map<number, Map<string, number>>()
  /** Tasks placed by this pass, per batch (no longer pending). */
  private took_ = new Map<number, number>()
  private readonly globs = new Map<string, RegExp>()

  /** `loose`: soft-locality tasks may go off their replicas. */
  constructor (private readonly input: BatchPlacementInput, private readonly pendingOf: (batchId: number) => number, private readonly loose = false, from?: BatchGate) {
    if (from !== undefined) {
      this.live = new Map([...from.live].map(([b, m]) => [b, new Map(m)]))
      this.took_ = new Map(from.took_)
      return
    }
    for (const j of input.active) {
      if (j.batchId === undefined || j.peerId === undefined || !LIVE_STATES.has(j.state)) continue
      this.add(j.batchId, j.peerId)
    }
  }

  /** A copy of the counts as they are now (what a second phase starts from). */
  copy (loose: boolean): BatchGate { return new BatchGate(this.input, this.pendingOf, loose, this) }

  allows (job: BatchPlacementJob, peerId: string): boolean {
    const l = job.batchId === undefined ? undefined : this.input.limitsOf(job.batchId)
    if (l === undefined || job.batchId === undefined) return true
    if (l.peers !== undefined && !this.glob(l.peers).test(peerId)) return false
    const on = this.live.get(job.batchId)
    const here = on?.get(peerId) ?? 0
    if (here > 0) return true
    // A peer new to the batch: only under maxWorkers, and (beyond the first) while more than maxPending tasks wait.
    const workers = on?.size ?? 0
    if (l.maxWorkers !== undefined && workers >= l.maxWorkers) return false
    return workers === 0 || this.pendingOf(job.batchId) - (this.took_.get(job.batchId) ?? 0) > l.maxPending
  }

  anywhere (job: BatchPlacementJob): boolean { return this.loose && this.isSoft(job) }

  ahead (job: BatchPlacementJob): number {
    const l = job.batchId === undefined ? undefined : this.input.limitsOf(job.batchId)
    return l === undefined ? 0 : l.perWorkerQueue ?? DEFAULT_PER_WORKER_QUEUE
  }

  took (job: BatchPlacementJob, peerId: string): void {
    if (job.batchId === undefined) return
    this.add(job.batchId, peerId)
    this.took_.set(job.batchId, (this.took_.get(job.batchId) ?? 0) + 1)
  }

  /** A task with a data key of a soft-locality batch. */
  isSoft (job: BatchPlacementJob): boolean {
    return job.batchId !== undefined && job.dataKey !== undefined && this.input.limitsOf(job.batchId)?.locality === 'soft'
  }

  private add (batchId: number, peerId: string): void {
    const on = this.live.get(batchId) ?? new Map<string, number>()
    on.set(peerId, (on.get(peerId) ?? 0) + 1)
    this.live.set(batchId, on)
  }

  private glob (pattern: string): RegExp {
    let re = this.globs.get(pattern)
    if (re === undefined) this.globs.set(pattern, re = globToRegExp(pattern))
    return re
  }
}
