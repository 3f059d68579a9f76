import { RaftCoordinator } from './coordinator.js'
import type { Coordinator, CoordinatorComponents, CoordinatorInit, StateMachine } from './types.js'

export type { AppliedEvent, Coordinator, CoordinatorComponents, CoordinatorInit, CoordinatorStatus, LeaderChangeEvent, LeaderInfo, ProposeOptions, StateMachine } from './types.js'
export type { Proposal } from './proposals.js'
export type { Role } from './raft-node.js'
export type { ClusterConfig, Entry, HardState, Snapshot } from './entry.js'
export type { ConfigChange } from './cluster-config.js'
export type { PersistedState, RaftStorage, RaftWrite } from './storage.js'
export { MemoryRaftStorage } from './storage.js'
export { LmdbRaftStorage, type LmdbRaftStorageInit } from './lmdb-raft-storage.js'
export { ClusterConfigMachine, type ClusterConfigCommand, type ClusterConfigResult } from './cluster-config-machine.js'
export { Fence } from './fence.js'
export { CompositeMachine } from './composite-machine.js'
export { VoterManager, type MemberView, type VoterManagerInit } from './voter-manager.js'
export { VoterDriver, type VoterDriverComponents } from './voter-driver.js'
export * from './constants.js'

/** A Raft coordinator over `components.transport`, applying committed commands to `machine`. */
export function createCoordinator<C, R> (components: CoordinatorComponents, init: CoordinatorInit, machine: StateMachine<C, R>): Coordinator<C, R> {
  return new RaftCoordinator(components, init, machine)
}
