import { join } from 'node:path'
import type { Clock } from './common/clock.js'
import type { Logger } from './common/logger.js'
import type { Startable } from './common/startable.js'
import type { PmzConfig } from './config/index.js'
import {
  ClusterConfigMachine, CompositeMachine, VoterDriver, createCoordinator,
  type ClusterConfigCommand, type ClusterConfigResult, type Coordinator
} from './coordinator/index.js'
import { createJobTable, type JobCommand, type JobResult, type JobTable, type JobsCoordinator } from './jobs/index.js'
import type { CoordinatorView } from './http/index.js'
import type { Membership } from './mesh/membership/index.js'
import type { Transport } from './mesh/transport/index.js'

export interface NodeCoordinator {
  readonly view: CoordinatorView
  /** The coordinator's peer id, as far as this peer knows. */
  leaderId(): string | undefined
  /** The coordinator and its term, as far as this peer knows (GET /events). */
  leader(): { leader: string | null, term: number }
  /** Calls `fn` when what `leader()` says may have changed; returns the unsubscribe function. */
  onLeaderChange(fn: () => void): () => void
  /** Started after membership; stopped before it. */
  readonly parts: Startable[]
  /** On a coordinator-role peer: the job table (a replica) and the coordinator as the jobs layer uses it. */
  readonly jobs?: { coordinator: JobsCoordinator, table: JobTable }
}

/** What the coordinator log carries: settings commands (`op`) and job commands (`type`). */
type NodeCommand = ClusterConfigCommand | JobCommand
type NodeResult = ClusterConfigResult | JobResult

function isJobCommand (c: NodeCommand): c is JobCommand {
  return c !== null && typeof c === 'object' && typeof (c as { type?: unknown }).type === 'string'
}

/**
 * The coordinator of a peer: a Raft replica of the cluster settings and the
 * job table (one log, one snapshot holding both) when the
 * peer has the coordinator role (voters grow and shrink with membership
 * through the VoterDriver), and on every peer the knowledge of who leads,
 * gossiped in membership meta as `coordinatorLeader` with its term.
 */
export function createNodeCoordinator (
  config: PmzConfig, transport: Transport, membership: Membership, clock: Clock, log: Logger
): NodeCoordinator {
  const clog = log.child({ component: 'coordinator' })
  if (!config.node.roles.includes('coordinator')) return remoteCoordinator(membership)

  const machine = new ClusterConfigMachine()
  const table = createJobTable()
  const composite = new CompositeMachine<NodeCommand, NodeResult>({ config: machine, jobs: table }, c => isJobCommand(c) ? 'jobs' : 'config', 'config')
  const coordinator: Coordinator<NodeCommand, NodeResult> = createCoordinator(
    { transport, clock, log: clog },
    {
      dataDir: join(config.node.dataDir, 'coordinator'),
      sync: config.store.sync === 'os' ? 'os' : 'fsync',
      locate: peerId => {
        const m = membership.get(peerId)
        return m !== undefined && (m.state === 'alive' || m.state === 'suspect') ? m.address : undefined
      }
    },
    composite
  )
  const discovery = config.mesh.discovery
  const driver = new VoterDriver({ coordinator, membership, clock, log: clog }, {
    bootstrapExpect: config.coordinator.bootstrapExpect,
    joins: discovery.includes('static') && config.mesh.join.length > 0,
    discovers: discovery.includes('mdns') || discovery.includes('broadcast')
  })
  let off: (() => void) | undefined
  const announce: Startable = {
    async start () {
      off = coordinator.on('leader:change', e => {
        clog.info({ leader: e.leader?.peerId ?? null, term: e.leader?.term ?? coordinator.term() }, 'coordinator changed')
        if (e.leader !== undefined) membership.updateMeta({ coordinatorLeader: e.leader.peerId, coordinatorTerm: e.leader.term })
      })
    },
    async stop () { off?.() }
  }
  const leaderId = (): string | undefined => coordinator.leader()?.peerId
  const propose = async (command: ClusterConfigCommand): Promise<ClusterConfigResult> => (await coordinator.propose(command)).result as ClusterConfigResult
  const jobs: JobsCoordinator = {
    isLeader: () => coordinator.isLeader(),
    term: () => coordinator.term(),
    propose: async command => ({ result: (await coordinator.propose(command)).result as JobResult }),
    read: async () => await coordinator.read(),
    onLeaderChange: fn => coordinator.on('leader:change', fn),
    onApplied: fn => coordinator.on('applied', e => { if (isJobCommand(e.command)) fn(e.command, e.result as JobResult | undefined) })
  }

  return {
    leaderId,
    leader: () => ({ leader: leaderId() ?? null, term: coordinator.term() }),
    onLeaderChange: fn => coordinator.on('leader:change', () => { fn() }),
    parts: [announce, coordinator, driver],
    jobs: { coordinator: jobs, table },
    view: {
      local: true,
      leaderHttp: () => httpOf(membership, leaderId()),
      status: () => ({ ...coordinator.status(), local: true }),
      async settings () {
        await coordinator.read()
        return Object.fromEntries(machine.entries())
      },
      async setSetting (key, value) { await propose({ op: 'set', key, value }) },
      async deleteSetting (key) { return await propose({ op: 'delete', key }) === true },
      async counter (name) {
        await coordinator.read()
        return machine.counter(name)
      },
      async increment (name, by) { return Number(await propose({ op: 'incr', key: name, by })) }
    }
  }
}

/** A peer without the coordinator role: it only knows who leads, from the voters' gossip. */
function remoteCoordinator (membership: Membership): NodeCoordinator {
  const leaderId = (): string | undefined => gossipedLeader(membership)?.id
  const forwarded = async (): Promise<never> => { throw new Error('forwarded by the gateway, never called') }
  return {
    leaderId,
    leader: () => {
      const best = gossipedLeader(membership)
      return { leader: best?.id ?? null, term: best?.term ?? 0 }
    },
    // The voters gossip the leader in their meta.
    onLeaderChange: fn => membership.on('peer:change', () => { fn() }),
    parts: [],
    view: {
      local: false,
      leaderHttp: () => httpOf(membership, leaderId()),
      status: () => ({ local: false, leader: leaderId() ?? null }),
      settings: forwarded,
      setSetting: forwarded,
      deleteSetting: forwarded,
      counter: forwarded,
      increment: forwarded
    }
  }
}

/** The leader that the alive coordinator-role members name with the highest term. */
function gossipedLeader (membership: Membership): { id: string, term: number } | undefined {
  let best: { id: string, term: number } | undefined
  for (const m of membership.alive()) {
    const id = m.meta.coordinatorLeader
    const term = m.meta.coordinatorTerm
    if (typeof id !== 'string' || typeof term !== 'number') continue
    if (best === undefined || term > best.term) best = { id, term }
  }
  return best
}

function httpOf (membership: Membership, peerId: string | undefined): string | undefined {
  if (peerId === undefined) return undefined
  const m = membership.get(peerId) ?? (membership.self().peerId === peerId ? membership.self() : undefined)
  return m !== undefined && m.state !== 'dead' && m.state !== 'left' ? m.meta.http : undefined
}
