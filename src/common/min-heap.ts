/** A binary min-heap ordered by `less`: push and pop in O(log n), the least item at peek(). */
export class MinHeap<T> {
  private items: T[] = []

  constructor (private readonly less: (a: T, b: T) => boolean) {}

  get size (): number { return this.items.length }

  /** The least item, or undefined when empty. */
  peek (): T | undefined { return this.items[0] }

  push (item: T): void {
    const h = this.items
    h.push(item)
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1
      if (!this.less(h[i], h[parent])) break
      ;[h[i], h[parent]] = [h[parent], h[i]]
      i = parent
    }
  }

  /** Takes out the least item, or undefined when empty. */
  pop (): T | undefined {
    const h = this.items
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l], h[m])) m = l
        if (r < h.length && this.less(h[r], h[m])) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m], h[i]]
        i = m
      }
    }
    return top
  }

  /** Its items, in no particular order (read only). */
  values (): readonly T[] { return this.items }

  /** Empties the heap; its items, in no particular order. */
  clear (): T[] {
    const out = this.items
    this.items = []
    return out
  }
}
