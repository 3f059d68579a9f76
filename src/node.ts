import { join } from 'node:path'
import { systemClock, type Clock } from './common/clock.js'
import { createLogger, type Logger } from './common/logger.js'
import { resolvePeerId } from './common/peer-id.js'
import { startAll, stopAll, type Startable } from './common/startable.js'
import { StallWatch } from './common/stall-watch.js'
import { VERSION } from './common/version.js'
import { DEFAULT_CLUSTER_KEY, isLoopbackHost, prepareDataDir, type PmzConfig } from './config/index.js'
import { createExtensions } from './extensions/index.js'
import { createGateway, type Gateway, type NetworkView, type RingView } from './http/index.js'
import { createNodeCoordinator } from './node-coordinator.js'
import { createNodeEvents } from './node-events.js'
import { createNodeJobs } from './node-jobs.js'
import { createNodeMetrics } from './node-metrics.js'
import { createPipelinesOfNode } from './node-pipelines.js'
import { createNodeMesh } from './node-mesh.js'
import { createClusterCatalog, createSeedCatalog } from './seeds/index.js'
import { createLocalStore, createReplicatedStore } from './store/index.js'

export { VERSION }

export interface PmzNode extends Startable {
  readonly id: string
  readonly log: Logger
  /** The gateway's base URL, once started. */
  httpUrl(): string
}

export interface NodeOptions {
  clock?: Clock
  /** Root logger; one bound to the peer id is built from the config when absent. */
  log?: Logger
  /** Lines to log once at start (e.g. ignored config keys). */
  warnings?: string[]
}

/**
 * The composition root: builds every component from the config, starts them
 * in layer order and stops them in reverse.
 */
export function createNode (config: PmzConfig, options: NodeOptions = {}): PmzNode {
  prepareDataDir(config.node.dataDir)
  const id = resolvePeerId(config.node.id, config.node.dataDir)
  const clock = options.clock ?? systemClock
  const log = (options.log ?? rootLogger(config)).child({ peer: id })

  let gateway: Gateway | undefined
  const mesh = createNodeMesh(config, id, () => gateway?.url() ?? '', clock, log)

  // Every peer has a local store; only volume peers are on the ring and hold keys.
  const storeLog = log.child({ component: 'store' })
  const local = createLocalStore({ clock, log: storeLog }, {
    dir: join(config.node.dataDir, 'store'),
    peerId: id,
    tombstoneGraceMs: config.store.tombstoneGraceHours * 3_600_000,
    sweepIntervalMs: config.store.sweepIntervalS * 1000,
    sync: config.store.sync,
    minFreeBytes: config.store.minFreeMb * 1024 * 1024
  })
  const store = createReplicatedStore({ local, transport: mesh.transport, membership: mesh.membership, clock, log: storeLog }, {
    replicas: config.store.replicas,
    writeQuorum: config.store.writeQuorum,
    antiEntropy: { deadGraceMs: config.store.deadPeerGraceS * 1000 },
    hintsDir: join(config.node.dataDir, 'hints'),
    hintMaxAgeMs: config.store.tombstoneGraceHours * 3_600_000,
    expectPeers: config.mesh.join.length > 0
  })
  const seeds = createSeedCatalog({ clock, log: log.child({ component: 'seeds' }) }, { dir: config.node.seedsDir })
  const extensions = createExtensions({
    store, seeds, clock, log: log.child({ component: 'extensions' }),
    gateways: () => mesh.peers().map(p => p.http).filter(url => url !== '')
  })
  // Every peer watches the catalog; only worker peers contribute their seeds to it.
  const catalog = createClusterCatalog({ local: seeds, membership: mesh.membership, mesh: mesh.transport, clock, log: log.child({ component: 'seeds.catalog' }) },
    { contribute: config.node.roles.includes('worker') })
  const coordinator = createNodeCoordinator(config, mesh.transport, mesh.membership, clock, log)
  // Built before the jobs (a job's ctx.emit injects packets), started after them (components below).
  const pipelines = createPipelinesOfNode(config, { transport: mesh.transport, membership: mesh.membership, seeds, catalog, store, clock, log })
  const inject = pipelines.service.inject.bind(pipelines.service)
  const observed = createNodeMetrics({ peerId: id, store, local, storeDir: join(config.node.dataDir, 'store'), membership: mesh.membership, coordinator })
  const jobs = createNodeJobs(config, { transport: mesh.transport, membership: mesh.membership, coordinator, seeds, catalog, store, local, clock, log, emit: inject, onAttempt: observed.onAttempt })
  const network: NetworkView = { peers: async () => mesh.peers(coordinator.leaderId()) }
  const events = createNodeEvents(config, id, { membership: mesh.membership, network, coordinator, store, clock, log })
  const ring: RingView = { ownerUrl: key => store.ownerUrl(key), status: async () => await store.ringStatus() }
  gateway = createGateway({ store: events.observe(store), local, events, network, ring, extensions, coordinator: coordinator.view, catalog, jobs: jobs.view, pipelines: pipelines.service, metrics: observed.metrics, clock, log: log.child({ component: 'http' }) }, {
    self: { id, version: VERSION, isVolume: config.node.roles.includes('volume') },
    host: config.node.host,
    advertiseHost: mesh.advertiseHost,
    port: config.http.port,
    maxsizeMb: config.http.maxsizeMb,
    token: config.http.token,
    bodyIdleTimeoutMs: config.http.bodyIdleTimeoutS * 1000,
    maxUploadsPerClient: config.http.maxUploadsPerClient,
    spoolDir: join(config.node.dataDir, 'spool')
  })

  const components: Startable[] = [new StallWatch({ clock, log }), store, seeds, extensions, mesh.transport, catalog, events, gateway, ...mesh.parts, ...coordinator.parts, ...jobs.parts, ...pipelines.parts]
  let stopping: Promise<void> | undefined

  return {
    id,
    log,
    httpUrl: () => gateway?.url() ?? '',
    async start () {
      for (const w of options.warnings ?? []) log.warn(w)
      if (config.mesh.clusterKey === DEFAULT_CLUSTER_KEY && !isLoopbackHost(config.node.host)) {
        log.warn({ host: config.node.host },
          'the cluster key is the published default: anyone on this network can join the cluster and read every key; set your own (pmz keygen) with --key, PMZ_KEY or [server] key')
      }
      await startAll(components, err => log.error({ err }, 'stop after a failed start failed'))
      log.info({ http: gateway?.url(), mesh: mesh.transport.address(), roles: config.node.roles, cluster: config.mesh.cluster, version: VERSION }, 'pmz ready')
    },
    async stop () {
      stopping ??= (async () => {
        log.info('pmz stopping')
        await stopAll(components, err => log.error({ err }, 'component failed to stop'))
        log.info('pmz stopped')
      })()
      return await stopping
    }
  }
}

/** The root logger the config asks for: `auto` is pretty (coloured) on a terminal and JSON lines otherwise (what scripts and the tests read). */
function rootLogger (config: PmzConfig): Logger {
  const tty = process.stdout.isTTY
  const format = config.log.format === 'auto' ? (tty ? 'pretty' : 'json') : config.log.format
  return createLogger({ level: config.log.level, format, colorize: tty })
}
