import { cpus } from 'node:os'
import { join } from 'node:path'
import type { Clock } from './common/clock.js'
import { PmzError, notFound } from './common/errors.js'
import type { Logger } from './common/logger.js'
import type { Startable } from './common/startable.js'
import type { PmzConfig } from './config/index.js'
import type { JobsView } from './http/index.js'
import { BatchDriver, CommandBatcher, HistoryPruner, ScheduleDriver, JOB_COMMAND_VERSION, JobsDriver, jobChange, JobsWorker, StoreJobData, createJobRunner, type JobCommand, type JobEmit, type JobOutcome, type JobResult, type JobRunner, type JobsCoordinator, type JobsMesh, type WorkerDirectory } from './jobs/index.js'
import type { Membership } from './mesh/membership/index.js'
import type { Transport } from './mesh/transport/index.js'
import type { NodeCoordinator } from './node-coordinator.js'
import type { ClusterCatalog, SeedCatalog } from './seeds/index.js'
import { asKey, seedStore, type ReplicaStore, type Store } from './store/index.js'
import { batchView, keyLister } from './node-batches.js'

export interface NodeJobs {
  /** Absent on a peer without the coordinator role (the gateway forwards job requests). */
  readonly view: JobsView
  /** Started after the coordinator; stopped before it. */
  readonly parts: Startable[]
}

/**
 * Jobs on a peer: the placement driver and the history pruner on
 * coordinator-role peers (active while leading), and on worker peers the runner of attempts, its slots
 * published in member meta (`jobSlots`). A worker reports through its own
 * coordinator replica, or without the coordinator role with a `jobs.report`
 * request to the coordinator.
 */
export function createNodeJobs (config: PmzConfig, deps: {
  transport: Transport, membership: Membership, coordinator: NodeCoordinator, seeds: SeedCatalog, catalog: ClusterCatalog, store: Store,
  /** This peer's own replica: `pulzar_data` files are copied from it when it holds the key. */
  local: ReplicaStore, clock: Clock, log: Logger,
  /** What a module job's `ctx.emit` calls: the pipelines' inject (this layer may not import them). */
  emit?: JobEmit
  /** Hears how each attempt this peer's worker ran ended (metrics). */
  onAttempt?: (outcome: AttemptEnd) => void
}): NodeJobs {
  const { transport, membership, clock } = deps
  const log = deps.log.child({ component: 'jobs' })
  const mesh = transport as unknown as JobsMesh
  const parts: Startable[] = []
  const local = deps.coordinator.jobs
  const isWorker = config.node.roles.includes('worker')
  let localWorker: JobsWorker | undefined
  const workerRuntime = (coordinator: Pick<JobsCoordinator, 'propose'>): void => {
    const slots = config.jobs.slots > 0 ? config.jobs.slots : cpus().length
    const runner = observed(createJobRunner({ clock, log, store: seedStore(deps.store), ...(deps.emit !== undefined ? { emit: deps.emit } : {}) }, { slots }), deps.onAttempt)
    const retention = config.general.retentionDays
    const data = new StoreJobData({ store: deps.store, local: deps.local, log }, {
      dir: join(config.node.dataDir, 'job-data'), ...(retention > 0 ? { outputDays: retention } : {})
    })
    const worker = localWorker = new JobsWorker({ coordinator, local: deps.seeds, runner, data, mesh, clock, log, peerId: transport.peerId, slots })
    parts.push(data, worker, {
      async start () { membership.updateMeta({ jobSlots: slots }) },
      async stop () { await runner.stop() }
    })
  }
  if (local !== undefined) {
    const directory: WorkerDirectory = {
      workers: () => [membership.self(), ...membership.alive()]
        .filter((m, i, all) => all.findIndex(o => o.peerId === m.peerId) === i && m.meta.roles.includes('worker') && m.state !== 'dead' && m.state !== 'left')
        .map(m => ({ peerId: m.peerId, address: m.address, slots: positive(m.meta.jobSlots) ?? 1, load: typeof m.meta.load === 'number' ? m.meta.load : 0 })),
      isAlive: id => {
        if (id === membership.peerId) return true
        const m = membership.get(id)
        return m !== undefined && (m.state === 'alive' || m.state === 'suspect')
      },
      onChange: fn => membership.on('peer:change', () => fn())
    }
    // A store that is not distributed (never in a node) holds every key here.
    const replicasOf = (key: string): string[] => deps.store.replicasOf?.(asKey(key)) ?? [transport.peerId]
    parts.push(new JobsDriver({ coordinator: local.coordinator, table: local.table, catalog: deps.catalog, directory, mesh: toWorkers(transport, () => membership.self().address, () => localWorker), data: { replicasOf }, clock, random: Math.random, log }))
    parts.push(reportHandler(transport, local.coordinator))
    parts.push(new BatchDriver({ coordinator: local.coordinator, table: local.table, keys: keyLister(deps.store), clock, log }))
    parts.push(new ScheduleDriver({ coordinator: local.coordinator, table: local.table, catalog: deps.catalog, clock, log }))
    parts.push(new HistoryPruner({ coordinator: local.coordinator, clock, log }, { retentionDays: config.general.retentionDays }))
    if (isWorker) workerRuntime(local.coordinator)
  } else if (isWorker) {
    workerRuntime(remoteReports(transport, membership, deps.coordinator))
  }

  const forwarded = async (): Promise<never> => { throw new Error('forwarded by the gateway, never called') }
  if (local === undefined) {
    const never = (): never => { throw new Error('forwarded by the gateway, never called') }
    return {
      parts,
      view: { local: false, launch: forwarded, schedule: forwarded, getSchedule: forwarded, schedules: forwarded, cancel: forwarded, retry: forwarded, get: forwarded, list: forwarded, follow: never, launchBatch: forwarded, getBatch: forwarded, batches: forwarded, followBatch: never }
    }
  }
  const { coordinator, table } = local
  // Launches of one event-loop turn share one log entry.
  const launches = new CommandBatcher(async command => await coordinator.propose(command))
  return {
    parts,
    view: {
      local: true,
      async launch (req) {
        // pulzar-api.md §6.3: an unknown key is a 404 at launch, not a job that can never run.
        if (req.dataKey !== undefined && await deps.store.stat(asKey(req.dataKey)) === undefined) throw notFound(`pulzar_data key ${req.dataKey} not found`)
        // No id: the table gives the next one, so concurrent launches neither read first nor conflict.
        const o = await launches.propose({ type: 'launch', v: JOB_COMMAND_VERSION, at: clock.now(), ...req })
        if (!o.ok) throw new PmzError(o.code, o.message)
        return { jobId: o.jobId as number, deduped: o.deduped === true }
      },
      async schedule (req) {
        const { spec, ...job } = req
        const template = { seed: job.seed, seedHash: job.seedHash, args: job.args, ...pick(job, 'priority', 'dataKey', 'timeoutMs', 'retries') }
        // No id: the table gives the next one of the job ids' sequence.
        const o = await launches.propose({ type: 'schedule', v: JOB_COMMAND_VERSION, at: clock.now(), template, spec, ...pick(job, 'dedupKey') })
        if (!o.ok) throw new PmzError(o.code, o.message)
        return { scheduleId: o.jobId as number, deduped: o.deduped === true }
      },
      async getSchedule (id) {
        await coordinator.read()
        return table.schedule(id)
      },
      async schedules () {
        await coordinator.read()
        return table.schedules()
      },
      async cancel (jobId) {
        const { result } = await coordinator.propose({ type: 'cancel', v: JOB_COMMAND_VERSION, at: clock.now(), jobId })
        const o = result as JobOutcome
        if (!o.ok && o.code === 'ERR_NOT_FOUND') return false
        if (!o.ok) throw new PmzError(o.code, o.message)
        return true
      },
      async retry (jobId) {
        const { result } = await coordinator.propose({ type: 'retry', v: JOB_COMMAND_VERSION, at: clock.now(), jobId })
        const o = result as JobOutcome
        if (!o.ok && o.code === 'ERR_NOT_FOUND') return false
        if (!o.ok) throw new PmzError(o.code, o.message)
        return true
      },
      async get (jobId) {
        await coordinator.read()
        return table.get(jobId)
      },
      async list (options) {
        await coordinator.read()
        return table.list(options)
      },
      follow (jobId, fn) {
        return coordinator.onApplied(command => {
          const change = jobChange(command, jobId, table.get(jobId))
          if (change !== undefined) fn(change)
        })
      },
      ...batchView(coordinator, table, launches, clock)
    }
  }
}

/** How an attempt ended, as the runner says. */
export type AttemptEnd = Awaited<ReturnType<JobRunner['run']>>

/** The runner, telling `onAttempt` how each attempt ended. */
function observed (runner: JobRunner, onAttempt: ((outcome: AttemptEnd) => void) | undefined): JobRunner {
  if (onAttempt === undefined) return runner
  return {
    async run (spec, events, options) {
      const outcome = await runner.run(spec, events, options)
      onAttempt(outcome)
      return outcome
    },
    async stop () { await runner.stop() }
  }
}

/** The fields of `o` among `keys` that are set. */
function pick<T extends object, K extends keyof T> (o: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k]
  return out
}

/** The driver's way to workers: this peer's own worker called in process (no round trip through the mesh), the others over the mesh. */
function toWorkers (transport: Transport, selfAddress: () => string, self: () => JobsWorker | undefined): Pick<JobsMesh, 'request'> {
  const mesh = transport as unknown as JobsMesh
  return {
    async request (to, msg, options) {
      const worker = self()
      if (worker === undefined || to !== selfAddress()) return await mesh.request(to, msg, options)
      return { msg: msg.type === 'jobs.assign' ? worker.assign(msg) : worker.cancel(msg) }
    }
  }
}

function positive (v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined
}

/** The worker reports a peer may relay for a worker without the coordinator role. */
const REPORTS = new Set(['started', 'progress', 'heartbeat', 'finished'])

/** On a coordinator-role peer: proposes the reports of workers without the role (`jobs.report`). */
function reportHandler (transport: Transport, coordinator: JobsCoordinator): Startable {
  let off: (() => void) | undefined
  return {
    async start () {
      off = transport.handle('jobs.report', async req => {
        const command = (req.msg as { command?: JobCommand }).command
        const ops = command?.type === 'batch' && Array.isArray(command.commands) ? command.commands : [command]
        if (command === null || typeof command !== 'object' || !ops.every(op => REPORTS.has(String(op?.type)))) {
          throw new PmzError('ERR_BAD_REQUEST', 'jobs.report carries worker reports')
        }
        const { result } = await coordinator.propose(command)
        return { type: 'jobs.reported', result }
      })
    },
    async stop () { off?.() }
  }
}

/** A worker without the coordinator role: its reports go to the coordinator it hears of in gossip. */
function remoteReports (transport: Transport, membership: Membership, coordinator: NodeCoordinator): Pick<JobsCoordinator, 'propose'> {
  return {
    async propose (command) {
      const leader = coordinator.leaderId()
      const address = leader === undefined ? undefined : membership.get(leader)?.address
      if (address === undefined) throw new PmzError('ERR_NO_COORDINATOR', 'no coordinator is known')
      const reply = await transport.request(address, { type: 'jobs.report', v: JOB_COMMAND_VERSION, command })
      return { result: (reply.msg as unknown as { result: JobResult }).result }
    }
  }
}
