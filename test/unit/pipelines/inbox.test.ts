import { describe, expect, it } from 'vitest'
import { DedupWindow } from '../../../src/pipelines/core/dedup-window.js'
import { Inbox, type InboxItem } from '../../../src/pipelines/core/inbox.js'

const item = (id: string, priority = 0, at = 0, key?: string): InboxItem<string> => ({ id, priority, at, key, value: id })
const takeAll = (inbox: Inbox<string>, now: number): string[] => {
  const out: string[] = []
  for (let i = inbox.take(now); i !== undefined; i = inbox.take(now)) { out.push(i.id); inbox.release(i.key) }
  return out
}

describe('inbox', () => {
  it('serves higher priorities first, in arrival order within one', () => {
    const inbox = new Inbox<string>({ capacity: 10, agingMs: 1_000 })
    for (const [id, p] of [['a', 0], ['b', 5], ['c', 9], ['d', 5], ['e', 0]] as const) inbox.offer(item(id, p))
    expect(takeAll(inbox, 0)).toEqual(['c', 'b', 'd', 'a', 'e'])
  })

  it('ages a waiting packet one level per agingMs, so a stream of high priorities does not starve it', () => {
    const inbox = new Inbox<string>({ capacity: 100, agingMs: 100 })
    inbox.offer(item('low', 0, 0))
    const served: string[] = []
    for (let t = 0; t < 2_000 && !served.includes('low'); t += 10) {
      inbox.offer(item(`high-${t}`, 9, t))
      const next = inbox.take(t)
      if (next !== undefined) served.push(next.id)
    }
    expect(served).toContain('low')
    expect(served.indexOf('low')).toBeLessThan(100) // served once aged past 9 levels (about 1 s)
  })

  it('refuses past its capacity and a duplicate id', () => {
    const inbox = new Inbox<string>({ capacity: 2, agingMs: 1_000 })
    expect(inbox.offer(item('a'))).toBe(true)
    expect(inbox.offer(item('a'))).toBe(false)
    expect(inbox.offer(item('b'))).toBe(true)
    expect(inbox.offer(item('c'))).toBe(false)
    expect(inbox.size).toBe(2)
    expect(inbox.has('a')).toBe(true)
  })

  it('never hands out two packets of one key at once, and keeps a key\'s order', () => {
    const inbox = new Inbox<string>({ capacity: 10, agingMs: 1_000 })
    inbox.offer(item('k1', 0, 0, 'k'))
    inbox.offer(item('k2', 9, 0, 'k'))
    inbox.offer(item('x', 0, 0))
    const first = inbox.take(0)
    expect(first?.id).toBe('k1')
    expect(inbox.take(0)?.id).toBe('x') // k2 waits for k1 although its priority is higher
    expect(inbox.take(0)).toBeUndefined()
    inbox.release('k')
    expect(inbox.take(0)?.id).toBe('k2')
  })

  it('puts a retried packet back ahead of its key\'s later packets', () => {
    const inbox = new Inbox<string>({ capacity: 10, agingMs: 1_000 })
    inbox.offer(item('k1', 0, 0, 'k'))
    inbox.offer(item('k2', 0, 0, 'k'))
    const k1 = inbox.take(0) as InboxItem<string>
    inbox.requeue(k1)
    expect(takeAll(inbox, 0)).toEqual(['k1', 'k2'])
  })

  it('drains every waiting packet (kill)', () => {
    const inbox = new Inbox<string>({ capacity: 10, agingMs: 1_000 })
    for (const id of ['a', 'b', 'c']) inbox.offer(item(id, 0, 0, id === 'c' ? 'k' : undefined))
    inbox.offer(item('d', 0, 0, 'k'))
    expect(inbox.take(0)?.id).toBe('a')
    expect(inbox.drain().map(i => i.id)).toEqual(['b', 'c', 'd'])
    expect(inbox.size).toBe(0)
  })
})

describe('dedup window', () => {
  it('remembers ids up to a count and an age', () => {
    const w = new DedupWindow({ maxIds: 3, maxAgeMs: 1_000 })
    for (const id of ['a', 'b', 'c', 'd']) w.add(id, 0)
    expect(['a', 'b', 'c', 'd'].map(id => w.has(id, 0))).toEqual([false, true, true, true])
    expect(w.has('d', 999)).toBe(true)
    expect(w.has('d', 1_000)).toBe(false)
    w.add('e', 1_500)
    expect(w.size).toBe(1)
  })

  it('records ids without a lookup index until a lookup comes, keeps it up to date while lookups come, drops it after a window without one', () => {
    const w = new DedupWindow({ maxIds: 100, maxAgeMs: 1_000 })
    for (let i = 0; i < 50; i++) w.add(`a${i}`, 0)
    expect(w.indexed).toBe(false) // the common path: no lookup, a queue push per id
    expect(w.has('a7', 1)).toBe(true) // built from the queue
    expect(w.indexed).toBe(true)
    w.add('b', 2)
    expect([w.has('b', 2), w.has('c', 2)]).toEqual([true, false])
    for (let i = 0; i < 101; i++) w.add(`c${i}`, 3)
    expect(w.indexed).toBe(false) // a window's worth of adds without a lookup
    expect([w.has('c100', 3), w.has('c1', 3), w.has('c0', 3), w.has('b', 3)]).toEqual([true, true, false, false]) // the last 100
  })

  it('keeps an id added again when its first entry is evicted, and stays bounded over many windows', () => {
    const w = new DedupWindow({ maxIds: 2, maxAgeMs: 1_000 })
    for (const id of ['a', 'b', 'a', 'c']) w.add(id, 0)
    expect(['a', 'b', 'c'].map(id => w.has(id, 0))).toEqual([true, false, true])
    for (let i = 0; i < 10_000; i++) w.add(`x${i}`, 10)
    expect(w.size).toBe(2)
    expect([w.has('x9999', 10), w.has('x9998', 10), w.has('x9997', 10), w.has('a', 10)]).toEqual([true, true, false, false])
  })
})
