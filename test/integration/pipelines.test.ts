// Pipelines end to end (issue 17), Pumpkin's hello world on three real
// peers: a source on one peer injects "World" under `names`, a `greet`
// stage on a second turns each name into "Hello {name}" under
// `greetings`, and an `extract` destination on a third writes what it gets
// to a file. A file dropped in the rx directory of the first peer
// (`rx/names/mars.txt`) becomes a packet too: "Hello Mars". The graph is
// learnt from the seeds: no peer is told where the stages are.
// Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const SOURCE = `export const produces = 'names'
export async function * source () { yield 'World' }
`
const GREET = `export const consumes = 'names'
export const produces = 'greetings'
export function run (packet) { return 'Hello ' + String(packet.payload).trim() }
`
const EXTRACT = (out: string): string => `import { appendFileSync } from 'node:fs'
export const consumes = 'greetings'
export function run (packet, ctx) { appendFileSync(${JSON.stringify(out)}, JSON.stringify({ text: packet.payload, peer: ctx.peerId }) + '\\n') }
`

interface Status { stages: Array<{ stage: string, consumes: string[], produces?: string, peers: Array<{ peerId: string }> }>, tags: Record<string, string[]> }

describe('Pumpkin hello world across three peers (issue 17)', () => {
  let peers: Peer[]
  let out: string
  let rx: string

  const lines = (): Array<{ text: string, peer: string }> =>
    existsSync(out) ? readFileSync(out, 'utf8').split('\n').filter(l => l !== '').map(l => JSON.parse(l)) : []

  beforeAll(async () => {
    const cluster = `test-${randomUUID().slice(0, 8)}`
    out = join(tempDir('pmz-pipe-out-'), 'extract.jsonl')
    rx = tempDir('pmz-pipe-rx-')
    const seeds = [{ 'hello/inject.mjs': SOURCE }, { 'hello/greet.mjs': GREET }, { 'hello/extract.mjs': EXTRACT(out) }].map((files, i) => {
      const dir = tempDir(`pmz-pipe-seeds-${i}-`)
      mkdirSync(join(dir, 'hello'))
      for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
      return dir
    })
    const a = await startPeer({ cluster, args: ['--seeds', seeds[0], '--rx-dir', rx] })
    peers = [a, ...await Promise.all([1, 2].map(async i => await startPeer({ cluster, args: ['--seeds', seeds[i], '--join', a.mesh] })))]
    await converged(peers, peers.map(p => p.id), 15_000)
  }, 60_000)

  afterAll(cleanupPeers)

  it('learns the graph from the seeds: each stage on its own peer', async () => {
    await waitFor(async () => {
      const s = (await http('GET', `${peers[1].url}/admin/pipelines`)).json?.data as Status | undefined
      return s?.tags.names?.includes('hello/greet') === true && s.tags.greetings?.includes('hello/extract') === true
    }, 20_000, 'the graph on every peer')
    const s = (await http('GET', `${peers[2].url}/admin/pipelines`)).json?.data as Status
    const where = Object.fromEntries(s.stages.map(x => [x.stage, x.peers.map(p => p.peerId)]))
    expect(where).toMatchObject({ 'hello/inject': [peers[0].id], 'hello/greet': [peers[1].id], 'hello/extract': [peers[2].id] })
  }, 30_000)

  it('carries the source\'s "World" to the destination as "Hello World"', async () => {
    await waitFor(async () => lines().some(l => l.text === 'Hello World'), 20_000, 'Hello World at the destination')
    expect(lines().find(l => l.text === 'Hello World')?.peer).toBe(peers[2].id)
  }, 30_000)

  it('a file dropped in rx/names/ becomes a packet: "Hello Mars"; the file moves to rx/done/', async () => {
    mkdirSync(join(rx, 'names'), { recursive: true })
    writeFileSync(join(rx, 'names', 'mars.txt'), 'Mars\n')
    await waitFor(async () => lines().some(l => l.text === 'Hello Mars'), 20_000, 'Hello Mars at the destination')
    await waitFor(async () => existsSync(join(rx, 'done', 'mars.txt')), 10_000, 'the file in rx/done/')
    expect(existsSync(join(rx, 'names', 'mars.txt'))).toBe(false)
  }, 30_000)

  it('POST /pipelines/inject/{tag} answers the packet id; the packet flows like the others', async () => {
    const res = await http('POST', `${peers[2].url}/pipelines/inject/names`, JSON.stringify('Venus'), { 'content-type': 'application/json' })
    expect(res.status, JSON.stringify(res.json)).toBe(200)
    expect(typeof (res.json?.data as { id: string }).id).toBe('string')
    await waitFor(async () => lines().some(l => l.text === 'Hello Venus'), 20_000, 'Hello Venus at the destination')
    const bad = await http('POST', `${peers[0].url}/pipelines/inject/nobody-consumes-this`, 'x')
    expect(bad.status).toBe(404)
    expect(bad.json).toMatchObject({ status: 'ko', data: null })
  }, 30_000)
})
