import { LmdbStore } from './lmdb-store.js'
import { ReplicatedStore, type ReplicatedStoreComponents, type ReplicatedStoreInit } from './replication/replicated-store.js'
import type { DistributedStore, ReplicaStore, Store, StoreComponents, StoreInit } from './types.js'

export type { StoredValue, PutOptions, ListOptions, StoreStats, KeyChange, Store, DistributedStore, StoreComponents, StoreInit, ReplicaStore, ReplicaPut, ApplyResult, RingStatus, RepairEvent, ReplicationStats } from './types.js'
export type { ValueMeta, ValueRecord, ReplicaEntry } from './record.js'
export { statDisk, type DiskUsage, type StatDisk } from './disk-space.js'
export type { ReplicatedStoreComponents, ReplicatedStoreInit } from './replication/replicated-store.js'
export { parseKey, asKey, isKey, seedKey, storedKey, validateKey, keyToUrlPath, type Key } from './key.js'
export { seedStore, type SeedStore } from './seed-store.js'
export { isLmdbOrphanRejection } from './lmdb-orphans.js'

export function createStore (components: StoreComponents, init: StoreInit): Store {
  return new LmdbStore(components, init)
}

/** The local LMDB store with its replica operations (what replication builds on). */
export function createLocalStore (components: StoreComponents, init: StoreInit): ReplicaStore {
  return new LmdbStore(components, init)
}

/**
 * The cluster-wide store: keys on a ring over the volume peers, N copies,
 * W acknowledgements, read repair. Starting it starts `components.local`.
 */
export function createReplicatedStore (components: ReplicatedStoreComponents, init: ReplicatedStoreInit = {}): DistributedStore {
  return new ReplicatedStore(components, init)
}
