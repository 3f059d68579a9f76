import { MinHeap } from '../../common/min-heap.js'

/**
 * The schedules' next decision times, earliest first (a binary min-heap
 * keyed by schedule id): the leader's ScheduleDriver takes only the
 * schedules due now instead of asking each of 10,000 schedules on every
 * pass (issue 15). Setting an id again supersedes its earlier time; the
 * superseded heap entry is dropped when it reaches the top (lazy deletion).
 */
export class DueQueue {
  /** [at, id] pairs; an entry counts only while `times` still gives its id that time. */
  private readonly heap = new MinHeap<[number, number]>(less)
  private readonly times = new Map<number, number>()

  /** Schedules in the queue. */
  get size (): number { return this.times.size }

  /** `id` is next due at `at`; undefined: never (it is left out). */
  set (id: number, at: number | undefined): void {
    if (at === undefined) {
      this.times.delete(id)
      return
    }
    if (this.times.get(id) === at) return
    this.times.set(id, at)
    this.heap.push([at, id])
  }

  /** Takes out the schedules due at `now` (at or before it), earliest first. */
  takeDue (now: number): number[] {
    const out: number[] = []
    for (let top = this.top(); top !== undefined && top[0] <= now; top = this.top()) {
      this.heap.pop()
      this.times.delete(top[1])
      out.push(top[1])
    }
    return out
  }

  /** The earliest time any schedule is due, or undefined when none is. */
  next (): number | undefined { return this.top()?.[0] }

  clear (): void {
    this.heap.clear()
    this.times.clear()
  }

  /** The earliest live entry, superseded ones dropped on the way. */
  private top (): [number, number] | undefined {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.times.get(top[1]) === top[0]) return top
      this.heap.pop()
    }
    return undefined
  }
}

/** Earlier first; the lower id first at the same time, so the order is the same on every run. */
const less = (a: [number, number], b: [number, number]): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])
