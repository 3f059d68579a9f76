import { LmdbStore } from './lmdb-store.js'
import type { Store, StoreComponents, StoreInit } from './types.js'

export type { StoredValue, PutOptions, ListOptions, StoreStats, KeyChange, Store, StoreComponents, StoreInit } from './types.js'
export type { ValueMeta, ValueRecord } from './record.js'
export { parseKey, validateKey, keyToUrlPath } from './key.js'

export function createStore (components: StoreComponents, init: StoreInit): Store {
  return new LmdbStore(components, init)
}
