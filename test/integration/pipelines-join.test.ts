// Jobs feeding pipelines, and stages joining and leaving a running graph
// (issue 17 "Injection" and "Routing"), on three real peers: A holds two job
// seeds, B a `sink` stage, C no seed at first. Needs `npm run build`.
// - A job launched with POST /launch_job emits packets with ctx.emit; B's
//   sink gets them with their key, priority, headers and bytes, under the
//   ids ctx.emit gave the job; a tag nobody consumes rejects in the job.
// - While a ticker job emits, a `tap` seed dropped into C's seeds directory
//   joins the graph (C's /admin/pipelines lists it) and starts receiving;
//   removing the file makes it leave the graph and stop receiving.
import { randomUUID } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { waitFor } from '../helpers/http.js'
import { catalogued, launch, settled } from '../helpers/jobs.js'
import { graphLearnt, pipelineStatus, seedDir, sinkLines, writeSeed } from '../helpers/pipeline-peers.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const EMITTER = `export default async function (args, ctx) {
  const ids = []
  for (let n = 0; n < args.count; n++) {
    ids.push(await ctx.emit('items', { n }, { key: 'k' + (n % 2), priority: n % 10, headers: { from: 'job', n: String(n) } }))
  }
  ids.push(await ctx.emit('items', Buffer.from('raw \\u00e9')))
  try {
    await ctx.emit('nobody-consumes-this', 1)
    return { ids }
  } catch (err) {
    return { ids, error: { code: err.code, message: err.message } }
  }
}
`
const TICKER = `import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
export default async function (args, ctx) {
  let n = 0
  while (!existsSync(args.stop) && n < args.max) {
    await ctx.emit('ticks', n++)
    await sleep(args.everyMs)
  }
  return { sent: n }
}
`
/** A stage consuming `consumes` that appends every packet (bytes as {bytes: text}) to `out`. */
const RECORDER = (consumes: string[], out: string): string => `import { appendFileSync } from 'node:fs'
export const consumes = ${JSON.stringify(consumes)}
export function run (packet, ctx) {
  const { id, tag, key, priority, headers, payload } = packet
  const p = Buffer.isBuffer(payload) ? { bytes: payload.toString() } : payload
  appendFileSync(${JSON.stringify(out)}, JSON.stringify({ id, tag, key, priority, headers, payload: p, peer: ctx.peerId }) + '\\n')
}
`

interface Seen { id: string, tag: string, key?: string, priority: number, headers: Record<string, string>, payload: unknown, peer: string }

describe('jobs emitting into pipelines; stages joining and leaving (issue 17)', () => {
  let a: Peer
  let b: Peer
  let c: Peer
  let cSeeds: string
  const out = { sink: '', tap: '', stop: '' }
  const seen = (file: string, tag?: string): Seen[] => sinkLines(file).map(l => JSON.parse(l) as Seen).filter(s => tag === undefined || s.tag === tag)

  beforeAll(async () => {
    const d = tempDir('pmz-pipe-join-')
    for (const k of Object.keys(out) as Array<keyof typeof out>) out[k] = join(d, `${k}.txt`)
    const cluster = `test-${randomUUID().slice(0, 8)}`
    cSeeds = seedDir({})
    a = await startPeer({ cluster, args: ['--seeds', seedDir({ 'join/emitter.mjs': EMITTER, 'join/ticker.mjs': TICKER })] })
    ;[b, c] = await Promise.all([
      startPeer({ cluster, args: ['--join', a.mesh, '--seeds', seedDir({ 'join/sink.mjs': RECORDER(['items', 'ticks'], out.sink) })] }),
      startPeer({ cluster, args: ['--join', a.mesh, '--seeds', cSeeds] })
    ])
    await converged([a, b, c], [a.id, b.id, c.id], 15_000)
    await graphLearnt([a, b, c], { items: ['join/sink'], ticks: ['join/sink'] }, { 'join/sink': [b.id] })
    await catalogued(a, 'join/emitter')
  }, 40_000)

  afterAll(async () => {
    if (out.stop !== '') writeFileSync(out.stop, '')
    await cleanupPeers()
  })

  it('a job launched with POST /launch_job emits packets with ctx.emit that a stage on another peer receives', async () => {
    const job = await settled(a, await launch(a, 'join/emitter', { count: 5 }), 15_000)
    expect(job.state, JSON.stringify(job)).toBe('ready')
    const output = job.output as { ids: string[], error: { code: string, message: string } }
    expect(output.ids).toHaveLength(6)
    expect(new Set(output.ids).size).toBe(6)
    expect(output.error).toEqual({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/nobody-consumes-this/) })
    await waitFor(() => seen(out.sink, 'items').length >= 6, 10_000, 'the six packets at the sink')
    const got = seen(out.sink, 'items')
    expect(got.map(s => s.id).sort()).toEqual([...output.ids].sort())
    expect(got.every(s => s.peer === b.id)).toBe(true)
    const third = got.find(s => s.id === output.ids[3])
    expect(third).toMatchObject({ payload: { n: 3 }, key: 'k1', priority: 3, headers: { from: 'job', n: '3' } })
    expect(got.find(s => s.id === output.ids[5])).toMatchObject({ payload: { bytes: 'raw \u00e9' }, priority: 0, headers: {} })
  }, 20_000)

  it('a stage seed dropped on another peer joins the running graph within seconds and receives; removed, it leaves', async () => {
    const ticker = await launch(a, 'join/ticker', { stop: out.stop, everyMs: 50, max: 600 })
    await waitFor(() => seen(out.sink, 'ticks').length >= 3, 10_000, 'ticks at the sink')

    const dropped = Date.now()
    writeSeed(cSeeds, 'join/tap.mjs', RECORDER(['ticks'], out.tap))
    await waitFor(async () => (await pipelineStatus(c))?.stages.find(s => s.stage === 'join/tap')?.peers.some(p => p.peerId === c.id) === true,
      10_000, 'join/tap in C\'s /admin/pipelines')
    await waitFor(() => seen(out.tap).length >= 3, 10_000, 'ticks at the new stage')
    const joinedMs = Date.now() - dropped
    expect(seen(out.tap).every(s => s.peer === c.id && s.tag === 'ticks')).toBe(true)
    // Every tick goes to each stage consuming it: the tap's ticks are the sink's too.
    await waitFor(() => {
      const atSink = new Set(seen(out.sink, 'ticks').map(s => s.id))
      return seen(out.tap).every(s => atSink.has(s.id))
    }, 5_000, 'the tap\'s ticks at the sink too')

    rmSync(join(cSeeds, 'join/tap.mjs'))
    for (const p of [a, c]) {
      await waitFor(async () => (await pipelineStatus(p))?.stages.some(s => s.stage === 'join/tap') === false, 10_000, `join/tap gone from ${p.id}'s graph`)
    }
    // Once the emitting peer routes without it, the tap gets nothing new while the sink keeps receiving.
    const sinkAt = seen(out.sink, 'ticks').length
    await waitFor(() => seen(out.sink, 'ticks').length >= sinkAt + 5, 10_000, 'more ticks at the sink')
    const tapAt = seen(out.tap).length
    const sinkLater = seen(out.sink, 'ticks').length
    await waitFor(() => seen(out.sink, 'ticks').length >= sinkLater + 5, 10_000, 'yet more ticks at the sink')
    expect(seen(out.tap)).toHaveLength(tapAt)

    writeFileSync(out.stop, '')
    const job = await settled(a, ticker, 10_000)
    expect(job.state, JSON.stringify(job)).toBe('ready')
    console.log(`join/tap joined and received within ${joinedMs} ms of the file being written; the ticker sent ${(job.output as { sent: number }).sent} ticks`)
  }, 45_000)
})
