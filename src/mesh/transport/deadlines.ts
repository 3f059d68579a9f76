import type { Clock, Timer } from '../../common/clock.js'

/** Something with a deadline, linked into a {@link Deadlines} list (intrusive: no allocation per entry). */
export interface Deadlined {
  /** Clock.monotonic() at which it expires. */
  deadline: number
  deadlinePrev: Deadlined | undefined
  deadlineNext: Deadlined | undefined
  deadlineList: DeadlineList | undefined
  /** Called once, when the deadline passes while still listed. */
  expire(): void
}

/**
 * The deadlines of every request in flight, without one timer each: entries
 * with the same timeout are listed in the order they were added, which is
 * their deadline order, and each list keeps one timer for its head. Removing
 * an entry is O(1) and leaves the timer alone; when it fires early, it is
 * re-armed for the new head. The hot path allocates nothing.
 */
export class Deadlines {
  private readonly lists = new Map<number, DeadlineList>()

  constructor (private readonly clock: Clock) {}

  add (item: Deadlined, timeoutMs: number): void {
    let list = this.lists.get(timeoutMs)
    if (list === undefined) {
      list = new DeadlineList(this.clock)
      this.lists.set(timeoutMs, list)
    }
    item.deadline = this.clock.monotonic() + timeoutMs
    list.append(item)
  }

  remove (item: Deadlined): void {
    item.deadlineList?.unlink(item)
  }

  /** Cancels every timer; entries stay unexpired. */
  clear (): void {
    for (const list of this.lists.values()) list.clear()
    this.lists.clear()
  }
}

export class DeadlineList {
  private head: Deadlined | undefined
  private tail: Deadlined | undefined
  private timer: Timer | undefined

  constructor (private readonly clock: Clock) {}

  append (item: Deadlined): void {
    item.deadlineList = this
    item.deadlinePrev = this.tail
    item.deadlineNext = undefined
    if (this.tail === undefined) this.head = item
    else this.tail.deadlineNext = item
    this.tail = item
    if (this.timer === undefined) this.arm()
  }

  unlink (item: Deadlined): void {
    if (item.deadlineList !== this) return
    if (item.deadlinePrev === undefined) this.head = item.deadlineNext
    else item.deadlinePrev.deadlineNext = item.deadlineNext
    if (item.deadlineNext === undefined) this.tail = item.deadlinePrev
    else item.deadlineNext.deadlinePrev = item.deadlinePrev
    item.deadlineList = item.deadlinePrev = item.deadlineNext = undefined
  }

  clear (): void {
    this.timer?.cancel()
    this.timer = undefined
    while (this.head !== undefined) this.unlink(this.head)
  }

  private arm (): void {
    if (this.head === undefined) return
    this.timer = this.clock.setTimeout(this.fire, Math.max(0, this.head.deadline - this.clock.monotonic()))
  }

  private readonly fire = (): void => {
    this.timer = undefined
    const now = this.clock.monotonic()
    while (this.head !== undefined && this.head.deadline <= now) {
      const item = this.head
      this.unlink(item)
      item.expire()
    }
    if (this.timer === undefined) this.arm()
  }
}
