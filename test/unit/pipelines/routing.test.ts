import { describe, expect, it } from 'vitest'
import { buildGraph, consumersOf, isValidTag, localStages, stageSpecs, tagTable } from '../../../src/pipelines/core/graph-rules.js'
import { rendezvous, routeOne, type RouteView } from '../../../src/pipelines/core/routing.js'
import { spec } from './fixtures.js'

const view = (dead: string[] = [], loads: Record<string, number> = {}, noCredit: string[] = []): RouteView => ({
  isAlive: p => !dead.includes(p),
  load: (_s, p) => loads[p] ?? 0,
  hasCredit: (_s, p) => !noCredit.includes(p)
})

describe('graph rules', () => {
  it('maps each tag to the stages consuming it, from the seeds that declare a stage', () => {
    const specs = stageSpecs([
      { name: 'p/greet', peers: ['b', 'a'], pipeline: { consumes: ['hello'], produces: 'greeting', source: false, events: [] } },
      { name: 'p/extract', peers: ['c'], pipeline: { consumes: ['greeting'], source: false, events: [] } },
      { name: 'p/audit', peers: ['a', 'c'], errors: { c: 'SyntaxError' }, pipeline: { consumes: ['greeting', 'hello'], source: false, events: [] } },
      { name: 'plain/job', peers: ['a'] }
    ])
    expect(specs.map(s => [s.stage, s.peers])).toEqual([['p/audit', ['a']], ['p/extract', ['c']], ['p/greet', ['a', 'b']]])
    const g = buildGraph(specs)
    expect(consumersOf(g, 'greeting').map(s => s.stage)).toEqual(['p/audit', 'p/extract'])
    expect(consumersOf(g, 'nothing')).toEqual([])
    expect(tagTable(g)).toEqual({ greeting: ['p/audit', 'p/extract'], hello: ['p/audit', 'p/greet'] })
    expect(localStages(g, 'a').map(s => s.stage)).toEqual(['p/audit', 'p/greet'])
  })

  it('accepts tags of the key alphabet only', () => {
    expect(isValidTag('hello.world-1')).toBe(true)
    for (const bad of ['', 'a/b', 'a b', 'x'.repeat(129), 3]) expect(isValidTag(bad)).toBe(false)
  })
})

describe('routing', () => {
  const s = spec('s', ['t'], ['p1', 'p2', 'p3', 'p4'])

  it('sends a key to one peer, and moves only the keys of a peer that died', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `k${i}`)
    const before = new Map(keys.map(k => [k, routeOne({ id: 'x', key: k }, s, view())]))
    const counts = new Map<string, number>()
    for (const p of before.values()) counts.set(p as string, (counts.get(p as string) ?? 0) + 1)
    expect([...counts.values()].every(n => n > 50)).toBe(true) // spread
    for (const k of keys) expect(routeOne({ id: `other-${k}`, key: k }, s, view())).toBe(before.get(k)) // stable
    const after = new Map(keys.map(k => [k, routeOne({ id: 'x', key: k }, s, view(['p2']))]))
    for (const k of keys) {
      if (before.get(k) !== 'p2') expect(after.get(k)).toBe(before.get(k))
      else expect(after.get(k)).not.toBe('p2')
    }
  })

  it('a keyed packet waits for its own peer\'s credit rather than go elsewhere', () => {
    const peer = rendezvous('k', s.peers) as string
    expect(routeOne({ id: 'x', key: 'k' }, s, view([], {}, [peer]))).toBeUndefined()
  })

  it('without a key picks the least loaded live peer with credit', () => {
    expect(routeOne({ id: 'x' }, s, view([], { p1: 3, p2: 1, p3: 0, p4: 0 }, ['p4']))).toBe('p3')
    expect(routeOne({ id: 'x' }, s, view(['p3'], { p1: 3, p2: 1, p3: 0, p4: 0 }, ['p4']))).toBe('p2')
    expect(routeOne({ id: 'x' }, s, view(['p1', 'p2', 'p3', 'p4']))).toBeUndefined()
  })

  it('spreads packets over equally loaded peers', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 400; i++) {
      const p = routeOne({ id: `id-${i}` }, s, view()) as string
      counts.set(p, (counts.get(p) ?? 0) + 1)
    }
    expect(counts.size).toBe(4)
  })
})
