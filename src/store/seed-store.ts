import { seedKey } from './key.js'
import type { ValueMeta } from './record.js'
import type { ListOptions, PutOptions, Store, StoredValue } from './types.js'

/**
 * The store as a seed's code reaches it (`ctx.store` of an extension, a job
 * or a stage): the calls of {@link Store} that read and write keys, with keys
 * as plain strings, their leading `/` optional. Seeds are code from outside
 * pmz, so each key is checked here, where it comes in (ERR_KEY_INVALID), and
 * goes on as a Key.
 */
export interface SeedStore {
  get(key: string, options?: { signal?: AbortSignal }): Promise<StoredValue>
  put(key: string, body: AsyncIterable<Uint8Array>, options?: PutOptions): Promise<ValueMeta>
  stat(key: string): Promise<ValueMeta | undefined>
  list(options?: ListOptions): Promise<ValueMeta[]>
  delete(key: string): Promise<void>
}

export function seedStore (store: Pick<Store, 'get' | 'put' | 'stat' | 'list' | 'delete'>): SeedStore {
  return {
    get: async (key, options) => await store.get(seedKey(key), options),
    put: async (key, body, options) => await store.put(seedKey(key), body, options),
    stat: async key => await store.stat(seedKey(key)),
    list: async options => await store.list(options),
    delete: async key => { await store.delete(seedKey(key)) }
  }
}
