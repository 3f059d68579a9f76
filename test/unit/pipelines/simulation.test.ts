// A deterministic simulation of a 3-stage pipeline over 4 peers (issue 17's
// crash test in miniature): p1 injects N packets, `double` runs on p2 and p3,
// `square` on p2 and p3 too, `sink` on p4. p2 is kill -9'd midway. Every
// packet must reach the sink, and after dedup by packet id the sink holds
// exactly N distinct results, each right.
import { afterEach, describe, expect, it } from 'vitest'
import { Mesh, stage } from './harness.js'

let mesh: Mesh | undefined
afterEach(async () => { await mesh?.stop(); mesh = undefined })

async function simulate (n: number, crashAt: number, keyed: boolean): Promise<{ results: Map<string, number>, deliveries: number, twice: number, ranOnP2: number }> {
  mesh = new Mesh(['p1', 'p2', 'p3', 'p4'], [
    stage('double', ['in'], ['p2', 'p3'], { produces: 'doubled', maxInstances: 2 }),
    stage('square', ['doubled'], ['p2', 'p3'], { produces: 'out', maxInstances: 2 }),
    stage('sink', ['out'], ['p4'], { maxInstances: 4 })
  ], { window: 32, ackTimeoutMs: 5_000 })
  mesh.runMs = 2
  mesh.fns.set('double', p => [{ tag: 'doubled', payload: { i: (p.payload as { i: number }).i, v: (p.payload as { i: number }).i * 2 } }])
  mesh.fns.set('square', p => { const { i, v } = p.payload as { i: number, v: number }; return [{ tag: 'out', payload: { i, v: v * v } }] })
  const results = new Map<string, number>()
  let deliveries = 0
  mesh.fns.set('sink', p => {
    deliveries++
    const { i, v } = p.payload as { i: number, v: number }
    expect(v).toBe(4 * i * i)
    results.set(String(i), v)
    return []
  })
  await mesh.start()
  const m = mesh
  const injecting = (async () => {
    for (let i = 0; i < n; i++) await m.peer('p1').engine.inject('in', { i }, keyed ? { key: `k${i % 17}` } : {})
  })()
  let crashed = false
  for (let t = 0; t < 120_000 && (results.size < n || !crashed); t += 10) {
    await m.run(10, 10)
    if (!crashed && deliveries >= crashAt) { m.crash('p2'); crashed = true }
  }
  await injecting
  await m.run(200, 10)
  expect(m.peer('p1').engine.outboxSize()).toEqual({ pending: 0, unacked: 0 })
  const twice = ['double', 'square'].reduce((k, st) => {
    const on2 = new Set(m.peer('p2').ran.get(st))
    return k + (m.peer('p3').ran.get(st) ?? []).filter(id => on2.has(id)).length
  }, 0)
  return { results, deliveries, twice, ranOnP2: (m.peer('p2').ran.get('double') ?? []).length }
}

describe('pipeline simulation', () => {
  it('a middle peer crashes: every packet reaches the sink, exactly N distinct results', async () => {
    const n = 1_000
    const { results, deliveries, twice, ranOnP2 } = await simulate(n, 300, false)
    expect(results.size).toBe(n)
    expect(ranOnP2).toBeGreaterThan(0)
    // Packets p2 ran but never acked ran again on p3; their outputs kept their ids, so the sink's dedup window dropped the copies.
    expect(twice).toBeGreaterThan(0)
    expect(deliveries).toBe(n)
  })

  it('the same with keyed packets (the crashed peer\'s keys move to the survivor)', async () => {
    const n = 600
    const { results, ranOnP2 } = await simulate(n, 200, true)
    expect(results.size).toBe(n)
    expect(ranOnP2).toBeGreaterThan(0)
  })

  it('replays the same run for the same inputs (deterministic)', async () => {
    const a = await simulate(300, 100, false)
    await mesh?.stop()
    const b = await simulate(300, 100, false)
    expect(b.deliveries).toBe(a.deliveries)
    expect(b.ranOnP2).toBe(a.ranOnP2)
  })
})
