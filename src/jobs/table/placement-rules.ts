// Placement, pure: which waiting jobs go to which workers now. The
// coordinator calls it whenever something changes (a launch, a worker
// joining or freeing a slot, a backoff ending) — no polling tick — and
// proposes one `assign` per answer, stamped with its term.

/** A worker peer as placement sees it (from membership and the job table). */
export interface WorkerView {
  peerId: string
  /** The seeds it holds: name → content hash. */
  seeds: ReadonlyMap<string, string>
  /** Jobs it runs at once at most (`[jobs] slots`). */
  slots: number
  /** Live attempts on it now (JobTable.liveCounts().perPeer). */
  running: number
  /** Load average per core, as it gossips it; the tie-breaker between equally busy peers. */
  load: number
}

/** A job waiting for a peer. A JobView fits. */
export interface PlacementJob {
  jobId: number
  seed: string
  seedHash: string
  /** Its latest attempt number; the assignment takes the next. */
  attempt: number
  /** `pulzar_data`: only a peer holding this key may run it. */
  dataKey?: string
  /** Earlier attempts: a peer where one failed or was lost is chosen only when no other fits. */
  attempts?: ReadonlyArray<{ peerId: string, outcome?: string }>
}

export interface PlacementInput {
  /** Waiting jobs in placement order: most urgent first, FIFO within a priority (JobTable.placeable); read only until the free slots are taken. */
  jobs: Iterable<PlacementJob>
  /** The alive worker peers. */
  workers: readonly WorkerView[]
  /** Cluster-wide limit of live attempts per seed (the seed's `concurrency`); absent: none. */
  concurrency?: ReadonlyMap<string, number>
  /** Live attempts per seed now (JobTable.liveCounts().perSeed). */
  runningPerSeed?: ReadonlyMap<string, number>
  /** The alive peers holding a store key (its replicas). */
  holders?: (key: string) => readonly string[] | undefined
  /** Further limits per job (a batch's: batch-rules.ts); absent: none. */
  gate?: PlacementGate
  /** The most jobs any gate lets a worker take ahead of its slots (PlacementGate.ahead); bounds the pass. @default 0 */
  ahead?: number
}

/** Limits beyond the seed's and the slots', consulted by place() job by job (issue 16: a batch's). */
export interface PlacementGate {
  /** Whether `peerId` may take `job` now. */
  allows(job: PlacementJob, peerId: string): boolean
  /** Whether a job with a data key may run off its replicas now. */
  anywhere(job: PlacementJob): boolean
  /** Notes an assignment place() made. */
  took(job: PlacementJob, peerId: string): void
  /** How many jobs like this one a worker may hold beyond its slots (queued there until one frees); absent: none. */
  ahead?(job: PlacementJob): number
}

/** One job to assign now. */
export interface Assignment { jobId: number, peerId: string, attempt: number }

/**
 * The assignments to make now. Each job, in order, goes to the eligible
 * worker that is least loaded (running/slots, then load average, then
 * peer id so that every run agrees): eligible means it holds the seed at
 * the job's hash, has a free slot, holds the data key if the job has one,
 * and the seed is under its concurrency limit. A job no worker can take
 * stays queued and does not hold back the jobs behind it (no head-of-line
 * blocking): a lower-priority job of another seed may start before it.
 */
export function place (input: PlacementInput): Assignment[] {
  const running = new Map(input.workers.map(w => [w.peerId, w.running]))
  const perSeed = new Map(input.runningPerSeed ?? [])
  let free = input.workers.reduce((n, w) => n + Math.max(0, w.slots + (input.ahead ?? 0) - w.running), 0)
  const out: Assignment[] = []
  for (const job of input.jobs) {
    if (free <= 0) break
    const limit = input.concurrency?.get(job.seed)
    if (limit !== undefined && (perSeed.get(job.seed) ?? 0) >= limit) continue
    const holders = job.dataKey === undefined || input.gate?.anywhere(job) === true ? undefined : new Set(input.holders?.(job.dataKey) ?? [])
    const avoid = new Set((job.attempts ?? []).filter(a => a.outcome === 'failed' || a.outcome === 'lost').map(a => a.peerId))
    let best: { w: WorkerView, key: number[] } | undefined
    const ahead = Math.min(input.ahead ?? 0, input.gate?.ahead?.(job) ?? 0)
    for (const w of input.workers) {
      const busy = running.get(w.peerId) ?? 0
      if (busy >= w.slots + ahead || w.seeds.get(job.seed) !== job.seedHash) continue
      if (holders !== undefined && !holders.has(w.peerId)) continue
      if (input.gate?.allows(job, w.peerId) === false) continue
      const key = [avoid.has(w.peerId) ? 1 : 0, busy / w.slots, w.load]
      if (best === undefined || less(key, w.peerId, best.key, best.w.peerId)) best = { w, key }
    }
    if (best === undefined) continue
    out.push({ jobId: job.jobId, peerId: best.w.peerId, attempt: job.attempt + 1 })
    input.gate?.took(job, best.w.peerId)
    running.set(best.w.peerId, (running.get(best.w.peerId) ?? 0) + 1)
    perSeed.set(job.seed, (perSeed.get(job.seed) ?? 0) + 1)
    free--
  }
  return out
}

function less (a: number[], aId: string, b: number[], bId: string): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i]
  return aId < bId
}
