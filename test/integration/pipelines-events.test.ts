// Pipelines' events, dead letters and scaling on two real peers (issue 17):
// A injects over HTTP (it holds no stage), B holds the stages. Needs `npm run build`.
// - PipeRT's events: pause holds (nothing processed, the inbox kept), resume
//   continues, kill stops at once and loses nothing (all is processed after a
//   start), stop drains; a custom event reaches the stage's `on{Event}`; the
//   CLI's `pmz pipeline events` and `pmz pipeline status`.
// - Dead letters: a stage that throws goes past its retries to the list that
//   /admin/pipelines counts, and `redrive` runs them again.
// - Scaling (Impetus): a backlog starts instances up to maxInstances (the core
//   count when the stage does not say); idle ones stop after idleMs.
import { randomUUID } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged, pool } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { graphLearnt, holds, injectJson, pipelineEvent, pipelineStatus, seedDir, sinkLines, stageOn } from '../helpers/pipeline-peers.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const SINK = (out: string, events: string): string => `import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
export const consumes = 'ev'
export const maxInstances = 1
export async function run (packet) {
  if (packet.payload.sleep) await sleep(packet.payload.sleep)
  appendFileSync(${JSON.stringify(out)}, packet.payload.n + '\\n')
}
export function onFlush (args, ctx) { appendFileSync(${JSON.stringify(events)}, JSON.stringify({ args, peer: ctx.peerId }) + '\\n') }
`
const FLAKY = (out: string, flag: string): string => `import { appendFileSync, existsSync } from 'node:fs'
export const consumes = 'flaky'
export const retries = 1
export function run (packet) {
  const { n, fail } = packet.payload
  if (fail && !existsSync(${JSON.stringify(flag)})) throw new Error('not yet ' + n)
  appendFileSync(${JSON.stringify(out)}, n + '\\n')
}
`
const WORKER = (out: string, maxInstances?: number): string => `import { appendFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
export const consumes = 'work'
export const idleMs = 1500
${maxInstances === undefined ? '' : `export const maxInstances = ${maxInstances}\n`}export async function run (packet) { await sleep(40); appendFileSync(${JSON.stringify(out)}, packet.payload + '\\n') }
`

describe('pipeline events, dead letters and scaling on real peers (issue 17)', () => {
  let a: Peer
  let b: Peer
  const dir = (): string => tempDir('pmz-pipe-ev-')
  const files = { sink: '', events: '', flaky: '', flag: '', scale: '', wide: '' }

  const numbers = (file: string): number[] => sinkLines(file).map(Number)
  const sinkState = async (): Promise<{ state?: string, inbox?: number, instances?: number, processed?: number }> => await stageOn(a, 'ev/sink', b.id) ?? {}
  const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
  const allIn = (file: string, ns: number[]): boolean => { const got = new Set(numbers(file)); return ns.every(n => got.has(n)) }

  beforeAll(async () => {
    const d = dir()
    for (const k of Object.keys(files) as Array<keyof typeof files>) files[k] = join(d, `${k}.txt`)
    const cluster = `test-${randomUUID().slice(0, 8)}`
    a = await startPeer({ cluster, args: ['--seeds', seedDir({})] })
    b = await startPeer({
      cluster,
      args: ['--join', a.mesh, '--seeds', seedDir({
        'ev/sink.mjs': SINK(files.sink, files.events),
        'ev/flaky.mjs': FLAKY(files.flaky, files.flag),
        'ev/scale.mjs': WORKER(files.scale, 3),
        'ev/wide.mjs': WORKER(files.wide)
      })]
    })
    await converged([a, b], [a.id, b.id], 15_000)
    await graphLearnt([a, b], { ev: ['ev/sink'], flaky: ['ev/flaky'], work: ['ev/scale', 'ev/wide'] },
      { 'ev/sink': [b.id], 'ev/flaky': [b.id], 'ev/scale': [b.id], 'ev/wide': [b.id] })
    await injectJson(a, 'ev', { n: 0 })
    await waitFor(() => numbers(files.sink).includes(0), 20_000, 'the first packet through the sink')
  }, 60_000)

  afterAll(cleanupPeers)

  it('a custom event runs the stage\'s on{Event} export with its args', async () => {
    expect(await pipelineEvent(a, 'flush', { stages: ['ev/sink'], args: { x: 1 } })).toEqual(['ev/sink'])
    await waitFor(() => existsSync(files.events), 10_000, 'onFlush to run')
    expect(JSON.parse(readFileSync(files.events, 'utf8').trim())).toEqual({ args: { x: 1 }, peer: b.id })
    const bad = await http('POST', `${a.url}/pipelines/events/flush`, JSON.stringify({ stages: ['ev/nobody'] }), { 'content-type': 'application/json' })
    expect(bad.status).toBe(404)
  })

  it('pause (through the CLI) holds: nothing is processed, the inbox is kept; resume continues', async () => {
    const paused = await runCli(['pipeline', 'events', 'pause', '--stages', 'ev/sink', '--gateway', a.url])
    expect(paused.stderr).toBe('')
    expect(paused.code).toBe(0)
    expect(paused.stdout.toString()).toMatch(/pause.*ev\/sink/)
    await waitFor(async () => (await sinkState()).state === 'paused', 10_000, 'the sink paused')
    const status = await runCli(['pipeline', 'status', '--gateway', a.url])
    expect(status.code).toBe(0)
    expect(status.stdout.toString()).toMatch(/ev\/sink +ev .*paused/)

    const before = numbers(files.sink).length
    await pool(range(1, 20), 8, async n => { await injectJson(a, 'ev', { n }) })
    await waitFor(async () => (await sinkState()).inbox === 20, 10_000, '20 packets in the paused inbox')
    await holds(async () => numbers(files.sink).length === before && (await sinkState()).inbox === 20, 1_000, 'paused: nothing processed, inbox kept')

    await pipelineEvent(a, 'resume', { stages: ['ev/sink'] })
    await waitFor(() => allIn(files.sink, range(1, 20)), 15_000, 'the 20 packets after resume')
    expect((await sinkState()).state).toBe('running')
  }, 60_000)

  it('kill stops at once and loses nothing: every packet is processed after a start', async () => {
    const ns = range(21, 60)
    await pool(ns, 8, async n => { await injectJson(a, 'ev', { n, sleep: 50 }) })
    await waitFor(() => numbers(files.sink).filter(n => n >= 21).length >= 3, 15_000, 'the slow packets under way')
    await pipelineEvent(a, 'kill', { stages: ['ev/sink'] })
    await waitFor(async () => { const s = await sinkState(); return s.state === 'stopped' && s.instances === 0 && s.inbox === 0 }, 10_000, 'the sink killed')
    const atKill = numbers(files.sink).length
    const doneAtKill = numbers(files.sink).filter(n => n >= 21).length
    expect(allIn(files.sink, ns)).toBe(false) // stopped at once, not drained
    await holds(async () => numbers(files.sink).length === atKill && (await sinkState()).state === 'stopped', 1_000, 'killed: nothing processed')

    await pipelineEvent(a, 'start', { stages: ['ev/sink'] })
    await waitFor(() => allIn(files.sink, ns), 20_000, 'every killed packet processed after start')
    const got = numbers(files.sink).filter(n => n >= 21 && n <= 60)
    console.log(`kill: ${doneAtKill} of 40 slow packets done at the kill; after start all 40 (${got.length - 40} ran twice)`)
  }, 60_000)

  it('stop drains the inbox, then takes nothing until started again', async () => {
    const ns = range(61, 80)
    await pool(ns, 8, async n => { await injectJson(a, 'ev', { n, sleep: 30 }) })
    await pipelineEvent(a, 'stop', { stages: ['ev/sink'] })
    await waitFor(async () => (await sinkState()).state === 'stopped', 15_000, 'the sink drained and stopped')
    expect(allIn(files.sink, ns)).toBe(true) // drained
    await injectJson(a, 'ev', { n: 81 })
    await holds(async () => !numbers(files.sink).includes(81) && (await sinkState()).state === 'stopped', 1_000, 'stopped: the new packet waits')
    await pipelineEvent(a, 'start', { stages: ['ev/sink'] })
    await waitFor(() => numbers(files.sink).includes(81), 10_000, 'the waiting packet after start')
  }, 60_000)

  it('dead letters: a run that throws past its retries is listed, and redrive runs it again', async () => {
    const ns = range(0, 9)
    const failing = ns.filter(n => n % 3 === 0)
    await pool(ns, 5, async n => { await injectJson(a, 'flaky', { n, fail: n % 3 === 0 }) })
    const deadLetters = async (): Promise<number | undefined> => (await pipelineStatus(a))?.stages.find(s => s.stage === 'ev/flaky')?.deadLetters
    await waitFor(async () => await deadLetters() === failing.length, 20_000, `${failing.length} dead letters`)
    expect(numbers(files.flaky).sort((x, y) => x - y)).toEqual(ns.filter(n => n % 3 !== 0))
    const flaky = await stageOn(a, 'ev/flaky', b.id)
    expect(flaky?.failed).toBe(failing.length * 2) // the first run and one retry each
    expect(flaky?.errors[0]).toMatch(/^not yet \d$/)

    // Redriven while the stage still throws: they come back to the list, none lost.
    const again = await http('POST', `${a.url}/pipelines/dlq/ev/flaky/redrive`)
    expect(again.json?.data).toEqual({ stage: 'ev/flaky', redriven: failing.length })
    await waitFor(async () => (await stageOn(a, 'ev/flaky', b.id))?.failed === failing.length * 4, 20_000, 'the redriven packets to fail again')
    await waitFor(async () => await deadLetters() === failing.length, 10_000, `${failing.length} dead letters again`)

    writeFileSync(files.flag, 'ok')
    const res = await http('POST', `${b.url}/pipelines/dlq/ev/flaky/redrive`)
    expect(res.status, res.body.toString()).toBe(200)
    expect(res.json?.data).toEqual({ stage: 'ev/flaky', redriven: failing.length })
    await waitFor(() => allIn(files.flaky, ns), 15_000, 'the redriven packets')
    expect(numbers(files.flaky)).toHaveLength(ns.length)
    expect(await deadLetters()).toBe(0)
  }, 60_000)

  it('a backlog starts instances up to maxInstances (the core count when the stage does not say); idle ones stop after idleMs', async () => {
    const cores = availableParallelism()
    const most = { 'ev/scale': 0, 'ev/wide': 0 }
    const instances = async (): Promise<Record<string, number>> => {
      const s = await pipelineStatus(a)
      const of = (stage: string): number => s?.stages.find(x => x.stage === stage)?.peers.find(p => p.peerId === b.id)?.instances ?? -1
      return { 'ev/scale': of('ev/scale'), 'ev/wide': of('ev/wide') }
    }
    const ns = range(1, 150)
    const t0 = Date.now()
    await pool(ns, 16, async n => { await injectJson(a, 'work', n) })
    let lastDone = 0
    await waitFor(async () => {
      const now = await instances()
      for (const k of Object.keys(most) as Array<keyof typeof most>) most[k] = Math.max(most[k], now[k])
      const done = allIn(files.scale, ns) && allIn(files.wide, ns)
      if (done && lastDone === 0) lastDone = Date.now()
      return done
    }, 40_000, 'the backlog worked off', 100)
    expect(most['ev/scale']).toBe(3)
    expect(most['ev/wide']).toBeGreaterThanOrEqual(Math.min(cores, 2)) // more than one where the peer has the cores
    expect(most['ev/wide']).toBeLessThanOrEqual(cores)
    await waitFor(async () => { const now = await instances(); return now['ev/scale'] === 1 && now['ev/wide'] === 1 }, 15_000, 'idle instances stopped', 100)
    console.log(`scaling: 150 packets x 40 ms into 'scale' (maxInstances 3) and 'wide' (default, ${cores} cores): most instances ${most['ev/scale']} and ${most['ev/wide']}; ` +
      `worked off in ${lastDone - t0} ms; down to 1 instance each ${Date.now() - lastDone} ms later (idleMs 1500)`)
  }, 90_000)
})
