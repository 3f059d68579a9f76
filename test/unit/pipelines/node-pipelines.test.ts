// The engine wired to the mesh: MemoryTransports, a membership and a catalog
// that are fakes of the node's, an in-memory store.
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { PmzError } from '../../../src/common/errors.js'
import { MemoryNetwork } from '../../../src/mesh/transport/memory-transport.js'
import type { Membership } from '../../../src/mesh/membership/index.js'
import { createNodePipelines, type NodePipelines } from '../../../src/node-pipelines.js'
import type { InstanceHost, Packet } from '../../../src/pipelines/types.js'
import type { ClusterCatalog } from '../../../src/seeds/index.js'
import type { Store } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const stops: Array<() => Promise<void>> = []
afterEach(async () => { for (const s of stops.splice(0)) await s() })

function fakeStore (): Store {
  const m = new Map<string, Buffer>()
  return {
    put: async (key: string, body: AsyncIterable<Uint8Array>) => {
      const chunks: Buffer[] = []
      for await (const c of body) chunks.push(Buffer.from(c))
      m.set(key, Buffer.concat(chunks))
      return { key } as never
    },
    get: async (key: string) => {
      const v = m.get(key)
      if (v === undefined) throw new PmzError('ERR_NOT_FOUND', 'no')
      return { meta: {} as never, body: Readable.from([v]) }
    },
    delete: async (key: string) => { if (!m.delete(key)) throw new PmzError('ERR_NOT_FOUND', 'no') },
    list: async (o: { prefix?: string } = {}) => [...m.keys()].filter(k => k.startsWith(o.prefix ?? '')).sort().map(key => ({ key }) as never)
  } as unknown as Store
}

describe('node pipelines', () => {
  it('carries a packet from one peer to a stage on another over the transport, and gathers the status of both', async () => {
    const clock = new ManualClock()
    const net = new MemoryNetwork({ clock, latencyMs: 1 })
    const ids = ['pa', 'pb']
    const seeds = [{ name: 'greet', peers: ['pb'], errors: {}, pipeline: { consumes: ['hello'], source: false, events: [] } }]
    const got: Packet[] = []
    const host: InstanceHost = {
      start: async stage => ({
        stage,
        run: async p => { got.push(p); return { ok: true, emitted: [] } },
        event: async () => ({ ok: true, emitted: [] }),
        stop: async () => {},
        onExit: () => {}
      })
    }
    const nodes: NodePipelines[] = []
    for (const id of ids) {
      const transport = net.createTransport(id)
      await transport.start()
      const membership = {
        peerId: id,
        get: (p: string) => ids.includes(p) ? { peerId: p, address: `${p}:1`, state: 'alive' } : undefined,
        on: () => () => {}
      } as unknown as Membership
      const catalog = { list: () => seeds, on: () => () => {} } as unknown as ClusterCatalog
      const node = createNodePipelines({ transport, membership, catalog, store: fakeStore(), host, clock, log: pino({ level: 'silent' }) })
      for (const part of node.parts) await part.start()
      stops.push(async () => { for (const part of [...node.parts].reverse()) await part.stop(); await transport.stop() })
      nodes.push(node)
    }
    await clock.advanceAsync(5)
    const id = await nodes[0].service.inject('hello', { to: 'World' })
    for (let i = 0; i < 10 && got.length === 0; i++) await clock.advanceAsync(1)
    expect(got.map(p => [p.id, p.payload])).toEqual([[id, { to: 'World' }]])
    const statusing = nodes[0].service.status()
    for (let i = 0; i < 5; i++) await clock.advanceAsync(1)
    const status = await statusing
    expect(status.tags).toEqual({ hello: ['greet'] })
    expect(status.stages[0]).toMatchObject({ stage: 'greet', deadLetters: 0, peers: [{ peerId: 'pb', state: 'running', instances: 1, processed: 1 }] })
  })
})
