import { describe, expect, it } from 'vitest'
import { EventLog, eventFrame } from '../../../../src/http/cluster-events/event-log.js'
import { RateSampler } from '../../../../src/http/cluster-events/sampler.js'
import { TOPICS, parseLastEventId, parseTopics } from '../../../../src/http/cluster-events/topics.js'

describe('EventLog', () => {
  it('numbers events from its first id up by one, and builds each frame once', () => {
    const log = new EventLog(4, 100)
    expect(log.lastId()).toBe(99)
    const a = log.append('keys', { type: 'added', key: '/a', size: 1 })
    const b = log.append('peers', { type: 'peer', id: 'p' })
    expect([a.id, b.id]).toEqual([100, 101])
    expect(a.frame).toBe('id: 100\nevent: keys\ndata: {"type":"added","key":"/a","size":1}\n\n')
    expect(log.lastId()).toBe(101)
  })

  it('gives exactly the events after an id it still holds, and nothing after the last', () => {
    const log = new EventLog(10)
    for (let i = 0; i < 6; i++) log.append('keys', { i })
    expect(log.after(3)?.map(e => e.id)).toEqual([4, 5, 6])
    expect(log.after(6)).toEqual([])
    expect(log.after(0)?.map(e => e.id)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('says so (undefined) when the events after an id are gone, or the id was never given', () => {
    const log = new EventLog(5)
    for (let i = 0; i < 12; i++) log.append('jobs', { i })
    // Holds 8..12: after 7 is complete, after 6 misses 7.
    expect(log.oldestId()).toBe(8)
    expect(log.after(7)?.map(e => e.id)).toEqual([8, 9, 10, 11, 12])
    expect(log.after(6)).toBeUndefined()
    expect(log.after(0)).toBeUndefined()
    // An id above the last: another peer's, or this peer's before a restart.
    expect(log.after(13)).toBeUndefined()
    expect(log.after(12)).toEqual([])
  })

  it('tells followers each event as it is appended, until they stop', () => {
    const log = new EventLog(3)
    const seen: number[] = []
    const off = log.follow(e => seen.push(e.id))
    log.append('ring', {})
    log.append('ring', {})
    off()
    log.append('ring', {})
    expect(seen).toEqual([1, 2])
  })

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new EventLog(0)).toThrow(RangeError)
  })

  it('frames events without an id (hello, reset, snapshots)', () => {
    expect(eventFrame('hello', { peer: 'p', seq: 3 })).toBe('event: hello\ndata: {"peer":"p","seq":3}\n\n')
  })
})

describe('RateSampler', () => {
  it('passes `limit` events per window, counts the rest, and starts a new window once one has passed', () => {
    const s = new RateSampler(3, 1000)
    const at = (t: number): boolean => s.offer(t)
    expect([at(0), at(10), at(20), at(30), at(999)]).toEqual([true, true, true, false, false])
    expect(s.takeDropped()).toBe(2)
    expect(s.takeDropped()).toBe(0)
    expect([at(1000), at(1001), at(1002), at(1003)]).toEqual([true, true, true, false])
    expect(s.takeDropped()).toBe(1)
  })
})

describe('topics and Last-Event-ID', () => {
  it('reads ?topics= as a comma list (repeatable); absent or empty means every topic', () => {
    expect([...parseTopics(undefined)]).toEqual([...TOPICS])
    expect([...parseTopics('')]).toEqual([...TOPICS])
    expect([...parseTopics('keys, jobs')]).toEqual(['keys', 'jobs'])
    expect([...parseTopics(['peers', 'ring,peers'])]).toEqual(['peers', 'ring'])
  })

  it('refuses an unknown topic with a 400 naming it and the known ones', () => {
    let err: unknown
    try {
      parseTopics('keys,nope')
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ code: 'ERR_BAD_REQUEST', status: 400, message: "unknown topic 'nope'; known: peers, coordinator, keys, ring, jobs, schedules, batches" })
  })

  it('takes the Last-Event-ID header over ?lastEventId=, and refuses what is not a non-negative integer', () => {
    expect(parseLastEventId(undefined, undefined)).toBeUndefined()
    expect(parseLastEventId('', undefined)).toBeUndefined()
    expect(parseLastEventId('12', '5')).toBe(12)
    expect(parseLastEventId(undefined, '5')).toBe(5)
    expect(() => parseLastEventId('abc', undefined)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    expect(() => parseLastEventId(undefined, '-1')).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
    expect(() => parseLastEventId(undefined, '1e3')).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST' }))
  })
})
