import { cpus, loadavg } from 'node:os'
import { statfsSync } from 'node:fs'
import type { Clock, Timer } from './common/clock.js'
import type { Logger } from './common/logger.js'
import type { Startable } from './common/startable.js'
import type { PmzConfig } from './config/index.js'
import { createDiscovery, type DiscoveredPeer, type Discovery } from './mesh/discovery/index.js'
import { createMembership, type Member, type Membership, type MembershipEvent } from './mesh/membership/index.js'
import { advertisedHost, createTransport, type Transport } from './mesh/transport/index.js'
import type { PeerView } from './http/index.js'

/** How often a peer republishes its disk and load figures when they changed, ms. */
const FACTS_INTERVAL_MS = 30_000

export interface NodeMesh {
  readonly transport: Transport
  readonly membership: Membership
  /** The host other peers and clients are given for this peer (`[server] advertise`, else derived from the bind address). */
  readonly advertiseHost: string
  /** Membership and discovery, started in order once the transport and the gateway are up; stopped in reverse. */
  readonly parts: Startable[]
  /** `admin/network`'s rows: every member this peer knows, self first; `coordinator` marks the one named. */
  peers(coordinator?: string): PeerView[]
}

/**
 * The mesh layers of one peer, wired: the ZeroMQ transport, SWIM membership
 * over it, and discovery whose proposals membership decides on.
 */
export function createNodeMesh (config: PmzConfig, id: string, httpUrl: () => string, clock: Clock, log: Logger): NodeMesh {
  const advertiseHost = advertisedHost(config.node.host, config.node.advertise)
  const transport = createTransport({ clock, log: log.child({ component: 'transport' }) }, {
    peerId: id,
    host: config.node.host,
    advertiseHost,
    port: config.mesh.port,
    clusterKey: config.mesh.clusterKey,
    cluster: config.mesh.cluster,
    rejectSummaryMs: config.mesh.rejectSummaryS * 1000
  })
  const membership = createMembership({ transport, clock, log: log.child({ component: 'membership' }) }, {
    cluster: config.mesh.cluster,
    meta: { http: '', roles: [...config.node.roles], ...facts(config.node.dataDir, config.store.minFreeMb) }
  })

  let discovery: Discovery | undefined
  let factsTimer: Timer | undefined
  let unsubscribe: (() => void) | undefined
  const memberLog = log.child({ component: 'membership' })

  /** Proposals of peers already alive at that address are dropped; membership decides on the rest. */
  const propose = (peer: DiscoveredPeer): void => {
    const known = membership.alive().some(m => m.address === peer.address && (peer.peerId === undefined || m.peerId === peer.peerId))
    if (!known) membership.join([peer.address])
  }

  const discoveryPart: Startable = {
    async start () {
      discovery = createDiscovery({ clock, log: log.child({ component: 'discovery' }) }, {
        methods: config.mesh.discovery,
        peerId: id,
        cluster: config.mesh.cluster,
        clusterKey: config.mesh.clusterKey,
        host: config.node.host,
        meshPort: Number(transport.address().split(':').pop()),
        roles: config.node.roles,
        join: config.mesh.join,
        broadcastPort: config.mesh.broadcastPort
      })
      discovery.on('peer:discovered', propose)
      await discovery.start()
    },
    async stop () {
      await discovery?.stop()
      discovery = undefined
    }
  }

  const eventsPart: Startable = {
    async start () {
      membership.updateMeta({ http: httpUrl() })
      unsubscribe = membership.on('peer:change', (e: MembershipEvent) => {
        const level = e.type === 'update' ? 'debug' : 'info'
        memberLog[level]({ member: e.member.peerId, address: e.member.address, incarnation: e.member.incarnation }, `member ${PAST[e.type]}`)
      })
      factsTimer = clock.setInterval(() => {
        const now = facts(config.node.dataDir, config.store.minFreeMb)
        const meta = membership.self().meta
        if (now.percent !== meta.percent || Math.abs(now.load - Number(meta.load)) >= 1 ||
          freeChanged(now.freeMb, meta.freeMb) || now.acceptingWrites !== meta.acceptingWrites) membership.updateMeta(now)
      }, FACTS_INTERVAL_MS)
    },
    async stop () {
      factsTimer?.cancel()
      unsubscribe?.()
    }
  }

  return {
    transport,
    membership,
    advertiseHost,
    parts: [eventsPart, membership, discoveryPart],
    peers: (coordinator) => {
      const self = membership.self()
      return [self, ...membership.members().filter(m => m.peerId !== self.peerId)].map(m => toView(m, m.peerId === coordinator))
    }
  }
}

const PAST: Record<MembershipEvent['type'], string> = {
  join: 'joined', suspect: 'suspected', alive: 'alive again', dead: 'dead', leave: 'left', update: 'updated'
}

function toView (m: Member, coordinator: boolean): PeerView {
  return {
    node: m.peerId,
    percent: typeof m.meta.percent === 'number' ? m.meta.percent : 0,
    free_mb: typeof m.meta.freeMb === 'number' ? m.meta.freeMb : null,
    accepting_writes: m.meta.acceptingWrites !== false,
    load: typeof m.meta.load === 'number' ? m.meta.load : 0,
    synch: m.state === 'alive',
    roles: [...m.meta.roles],
    state: m.state,
    http: m.meta.http,
    mesh: m.address,
    last_heard: m.lastHeard === null ? null : new Date(m.lastHeard).toISOString(),
    coordinator
  }
}

/** What a peer says of its machine: disk used and free (MiB) where its data lives, whether that is above the floor, and load. */
function facts (dataDir: string, minFreeMb: number): { percent: number, freeMb: number, acceptingWrites: boolean, load: number } {
  const free = freeMb(dataDir)
  return {
    percent: diskPercent(dataDir),
    freeMb: free,
    acceptingWrites: free >= minFreeMb,
    load: Math.round(loadavg()[2] / Math.max(1, cpus().length) * 10000) / 100
  }
}

/** A change of free space worth gossiping: 1% of it, or 16 MiB, whichever is more. */
function freeChanged (now: number, before: unknown): boolean {
  return typeof before !== 'number' || Math.abs(now - before) >= Math.max(16, before / 100)
}

/** MiB of the file system holding `dir` that an unprivileged writer may still use; 0 when unknown. */
export function freeMb (dir: string): number {
  try {
    const s = statfsSync(dir)
    return Math.floor(s.bavail * s.bsize / (1024 * 1024))
  } catch {
    return 0
  }
}

/** Percent of the file system holding `dir` that is in use, 0-100. */
export function diskPercent (dir: string): number {
  try {
    const s = statfsSync(dir)
    // As df computes Use%: used / (used + available to unprivileged users).
    const used = s.blocks - s.bfree
    const usable = used + s.bavail
    return usable > 0 ? Math.round(used / usable * 100) : 0
  } catch {
    return 0
  }
}
