// Pipelines on a peer (issue 17): the engine wired to the mesh transport
// (pipe.push / pipe.ack / pipe.event one-way messages, pipe.status requests),
// membership (liveness, dead peers), the cluster catalog (the stages: seeds
// whose catalog entry carries `pipeline`) and the store (dead letters, large
// payloads); and the PipelineService the gateway and the CLI use.
import type { Readable } from 'node:stream'
import type { Clock } from './common/clock.js'
import { isPmzError } from './common/errors.js'
import type { Logger } from './common/logger.js'
import type { Startable } from './common/startable.js'
import type { Membership } from './mesh/membership/index.js'
import type { Transport } from './mesh/transport/index.js'
import { stageSpecs, tagTable } from './pipelines/core/graph-rules.js'
import { PIPE_WIRE_VERSION } from './pipelines/constants.js'
import { PipelineEngine, type EngineInit, type PipelineStore } from './pipelines/engine.js'
import { checkStatusReply, type LocalStageStatus } from './pipelines/messages.js'
import type { InstanceHost, PipelineService, StageStatus } from './pipelines/types.js'
import type { PmzConfig } from './config/index.js'
import { createInstanceHost } from './pipelines/exec/index.js'
import { createRxDir } from './pipelines/rx-dir.js'
import type { ClusterCatalog, SeedCatalog } from './seeds/index.js'
import { seedKey, seedStore, type Store } from './store/index.js'

/** Deadline of a peer's pipe.status answer, ms. */
const STATUS_TIMEOUT_MS = 2_000
const PIPE_MESSAGES = ['pipe.push', 'pipe.ack', 'pipe.event']

export interface NodePipelines {
  readonly service: PipelineService
  /** Started after the catalog and the store; stopped before them. */
  readonly parts: Startable[]
}

export function createNodePipelines (deps: {
  transport: Transport, membership: Membership, catalog: ClusterCatalog, store: Store, host: InstanceHost, clock: Clock, log: Logger
}, init: EngineInit = {}): NodePipelines {
  const { transport, membership, catalog } = deps
  const log = deps.log.child({ component: 'pipelines' })
  const isAlive = (peerId: string): boolean => {
    if (peerId === membership.peerId) return true
    const state = membership.get(peerId)?.state
    return state === 'alive' || state === 'suspect'
  }
  const engine = new PipelineEngine({
    peerId: membership.peerId,
    net: {
      send (peerId, msg) {
        const address = membership.get(peerId)?.address
        return address !== undefined && transport.send(address, msg)
      },
      onMessage (fn) {
        const offs = PIPE_MESSAGES.map(type => transport.onMessage(type, (msg, from) => fn(msg, from.peerId)))
        return () => { for (const off of offs) off() }
      }
    },
    membership: {
      isAlive,
      onDead: fn => membership.on('peer:change', e => { if (e.type === 'dead' || e.type === 'leave') fn(e.member.peerId) })
    },
    graph: {
      stages: () => stageSpecs(catalog.list()),
      onChange: fn => catalog.on('catalog:change', () => fn())
    },
    host: deps.host,
    store: storeAdapter(deps.store),
    clock: deps.clock,
    random: Math.random,
    log
  }, init)
  let offStatus: (() => void) | undefined
  const statusHandler: Startable = {
    async start () {
      offStatus = transport.handle('pipe.status', () => ({ type: 'pipe.status.reply', v: PIPE_WIRE_VERSION, stages: engine.localStatus() }))
    },
    async stop () { offStatus?.() }
  }

  const service: PipelineService = {
    inject: async (tag, payload, options) => await engine.inject(tag, payload, options),
    event: async (name, body) => await engine.event(name, body),
    redrive: async stage => await engine.redrive(stage),
    async status () {
      const graph = engine.graphNow()
      const peers = new Set([...graph.stages.values()].flatMap(s => s.peers))
      peers.delete(membership.peerId)
      const answers = await Promise.all([...peers].filter(isAlive).map(async peerId => {
        const address = membership.get(peerId)?.address
        if (address === undefined) return []
        try {
          const reply = await transport.request(address, { type: 'pipe.status', v: PIPE_WIRE_VERSION }, { timeoutMs: STATUS_TIMEOUT_MS })
          return checkStatusReply(reply.msg)
        } catch (err) {
          log.debug({ err, peerId }, 'pipe.status unanswered')
          return []
        }
      }))
      const all: LocalStageStatus[] = [...engine.localStatus(), ...answers.flat()]
      const stages: StageStatus[] = await Promise.all([...graph.stages.values()].map(async s => ({
        stage: s.stage,
        consumes: s.consumes,
        ...(s.produces !== undefined ? { produces: s.produces } : {}),
        source: s.source,
        peers: all.filter(p => p.stage === s.stage).map(({ stage: _, ...p }) => p).sort((a, b) => a.peerId < b.peerId ? -1 : 1),
        deadLetters: await engine.deadLetters(s.stage).catch(() => 0)
      })))
      return { stages, tags: tagTable(graph) }
    }
  }
  return { service, parts: [engine, statusHandler] }
}

/**
 * The pipelines of a node from its config: stage instances in worker
 * threads or child processes (worker peers hold stages; any peer routes and injects), the
 * engine, and the rx directory when `[pipelines] rx_dir` is set.
 */
export function createPipelinesOfNode (config: PmzConfig, deps: {
  transport: Transport, membership: Membership, seeds: SeedCatalog, catalog: ClusterCatalog, store: Store, clock: Clock, log: Logger
}): NodePipelines {
  const { seeds, catalog, clock } = deps
  const log = deps.log.child({ component: 'pipelines' })
  const host = createInstanceHost({
    clock, log, store: seedStore(deps.store),
    seedOf (stage) {
      const seed = seeds.get(stage)
      const pipeline = catalog.get(stage)?.pipeline
      if (seed === undefined || pipeline === undefined || seed.error !== undefined) return undefined
      return { name: seed.name, path: seed.path, kind: seed.kind, hash: seed.hash, pipeline }
    }
  }, { peerId: deps.membership.peerId, isolation: config.pipelines.isolation })
  const nodePipelines = createNodePipelines({ ...deps, host })
  // Stopped in reverse: the rx directory first, then the engine, then what instances are left.
  const parts: Startable[] = [{ start: async () => {}, stop: async () => await host.stop() }, ...nodePipelines.parts]
  if (config.pipelines.rxDir !== '') {
    const service = nodePipelines.service
    parts.push(createRxDir({ inject: service.inject.bind(service), clock, log: log.child({ component: 'pipelines.rx' }) }, { dir: config.pipelines.rxDir }))
  }
  return { service: nodePipelines.service, parts }
}

/** The store as the engine needs it. */
function storeAdapter (store: Store): PipelineStore {
  return {
    async put (key, bytes, options) {
      await store.put(seedKey(key), (async function * () { yield bytes })(), { sizeHint: bytes.byteLength, ...(options?.temporalDays !== undefined ? { temporalDays: options.temporalDays } : {}) })
    },
    async get (key) {
      try {
        const { body } = await store.get(seedKey(key))
        if (Buffer.isBuffer(body)) return body
        const chunks: Buffer[] = []
        for await (const c of body as Readable) chunks.push(c as Buffer)
        return Buffer.concat(chunks)
      } catch (err) {
        if (isPmzError(err, 'ERR_NOT_FOUND')) return undefined
        throw err
      }
    },
    async delete (key) {
      try { await store.delete(seedKey(key)) } catch (err) { if (!isPmzError(err, 'ERR_NOT_FOUND')) throw err }
    },
    async list (prefix) {
      const keys: string[] = []
      for (let after: string | undefined; ;) {
        const page = await store.list({ prefix, limit: 1000, ...(after !== undefined ? { after } : {}) })
        keys.push(...page.map(m => m.key))
        if (page.length < 1000) return keys
        after = page[page.length - 1].key
      }
    }
  }
}
