import { describe, expect, it } from 'vitest'
import { seededRandom } from '../../../../src/common/random.js'
import { DueQueue } from '../../../../src/jobs/schedule/index.js'

describe('DueQueue: the schedules due now without asking every schedule (issue 15)', () => {
  it('takes the due ids earliest first (the lower id first at one time); a later set supersedes, undefined removes', () => {
    const q = new DueQueue()
    q.set(1, 300)
    q.set(2, 100)
    q.set(3, 200)
    q.set(4, 100)
    q.set(3, 50) // superseded: 200 no longer counts
    q.set(1, undefined)
    expect(q.next()).toBe(50)
    expect(q.takeDue(99)).toEqual([3])
    expect(q.takeDue(250)).toEqual([2, 4])
    expect(q.takeDue(1000)).toEqual([])
    expect(q.next()).toBeUndefined()
    expect(q.size).toBe(0)
  })

  it('agrees with a plain map over a random history', () => {
    const random = seededRandom(5)
    const q = new DueQueue()
    const plain = new Map<number, number>()
    let now = 0
    for (let step = 0; step < 5000; step++) {
      const id = Math.floor(random() * 200)
      if (random() < 0.1) {
        q.set(id, undefined)
        plain.delete(id)
      } else {
        const at = now + Math.floor(random() * 1000)
        q.set(id, at)
        plain.set(id, at)
      }
      if (step % 50 === 0) {
        now += 100
        const due = [...plain].filter(([, at]) => at <= now).sort((a, b) => a[1] - b[1] || a[0] - b[0]).map(([i]) => i)
        for (const i of due) plain.delete(i)
        expect(q.takeDue(now)).toEqual(due)
        expect(q.size).toBe(plain.size)
      }
    }
  })
})
