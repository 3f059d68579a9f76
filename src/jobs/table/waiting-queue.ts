/** What the queue reads of a job: its priority (fixed at launch) and its launch order. */
export interface Queued { jobId: number, priority: number, seq: number }

/**
 * The jobs waiting for a peer, in placement order (most urgent first, FIFO
 * by launch order within a priority) without sorting them all on every
 * placement pass: a pass reads them lazily and stops once the free slots are
 * taken, so its cost does not grow with a backlog of thousands of queued
 * jobs (10,000 schedules firing every second, issue 15).
 *
 * Per priority, jobs arrive mostly in launch order (a new job has the
 * highest seq): they are appended to an insertion-ordered map. A job that
 * comes back (re-queued, retried) has an older seq than the newest appended:
 * it goes to a small side map, sorted and merged in when the queue is read.
 */
export class WaitingQueue<J extends Queued> {
  private readonly inOrder = new Map<number, Map<number, J>>()
  private readonly late = new Map<number, Map<number, J>>()
  /** Per priority, the highest seq appended to inOrder. */
  private readonly newest = new Map<number, number>()
  private count = 0

  get size (): number { return this.count }

  has (job: J): boolean {
    return this.inOrder.get(job.priority)?.has(job.jobId) === true || this.late.get(job.priority)?.has(job.jobId) === true
  }

  add (job: J): void {
    if (this.has(job)) return
    const p = job.priority
    if (job.seq > (this.newest.get(p) ?? -Infinity)) {
      this.newest.set(p, job.seq)
      mapOf(this.inOrder, p).set(job.jobId, job)
    } else {
      mapOf(this.late, p).set(job.jobId, job)
    }
    this.count++
  }

  delete (job: J): void {
    if (this.inOrder.get(job.priority)?.delete(job.jobId) === true || this.late.get(job.priority)?.delete(job.jobId) === true) this.count--
  }

  clear (): void {
    this.inOrder.clear()
    this.late.clear()
    this.newest.clear()
    this.count = 0
  }

  /** The jobs, highest priority first, by seq within a priority. */
  * ordered (): IterableIterator<J> {
    const priorities = [...new Set([...this.inOrder.keys(), ...this.late.keys()])].sort((a, b) => b - a)
    for (const p of priorities) {
      const late = [...(this.late.get(p)?.values() ?? [])].sort((a, b) => a.seq - b.seq)
      let i = 0
      for (const job of this.inOrder.get(p)?.values() ?? []) {
        while (i < late.length && late[i].seq < job.seq) yield late[i++]
        yield job
      }
      while (i < late.length) yield late[i++]
    }
  }
}

function mapOf<J> (maps: Map<number, Map<number, J>>, p: number): Map<number, J> {
  let m = maps.get(p)
  if (m === undefined) maps.set(p, m = new Map())
  return m
}
