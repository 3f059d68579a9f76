import { join } from 'node:path'
import { open } from 'lmdb'
import { http, waitFor } from './http.js'
import type { Peer } from './peer.js'

/** A row of admin/network. */
export interface NetworkRow { node: string, state: string, roles: string[], http: string, mesh: string, percent: number, in_sync?: boolean, last_heard: string | null }

/** What admin/ring answers. */
export interface RingView { fingerprint: string, volumePeers: string[], underReplicated: number, localKeys: number, lastRepairMs: number | null }

/** The peer's admin/network rows ([] when it does not answer). */
export async function network (peer: Peer): Promise<NetworkRow[]> {
  const res = await http('GET', `${peer.url}/admin/network`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as NetworkRow[] : []
}

/** Resolves once every viewer lists every id of `ids` as alive. */
export async function converged (viewers: Peer[], ids: string[], timeoutMs: number): Promise<void> {
  await waitFor(async () => {
    for (const v of viewers) {
      const rows = await network(v)
      if (!ids.every(id => rows.some(r => r.node === id && r.state === 'alive'))) return false
    }
    return true
  }, timeoutMs, `${viewers.length} peers to list ${ids.length} alive members`)
}

/** The peer's admin/ring (undefined when it does not answer). */
export async function ringView (peer: Peer): Promise<RingView | undefined> {
  const res = await http('GET', `${peer.url}/admin/ring`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data as RingView : undefined
}

/** Live keys in the peer's own store (admin/status local_entries); -1 when it does not answer. */
export async function localEntries (peer: Peer): Promise<number> {
  const res = await http('GET', `${peer.url}/admin/status`).catch(() => undefined)
  return res?.status === 200 ? res.json?.data.local_entries as number : -1
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

/**
 * Waits until every live peer has the same ring over exactly them, nothing
 * under-replicated, and `keys` x `n` copies in all. Returns when each of
 * those held, ms after the call: `underZero` (rings agree, nothing
 * under-replicated) and `total`.
 */
export async function repaired (live: Peer[], keys: number, n: number, timeoutMs: number, intervalMs = 100): Promise<{ underZero: number, total: number }> {
  const t0 = Date.now()
  const ids = live.map(p => p.id).sort()
  let underZero = -1
  await waitFor(async () => {
    const views = await Promise.all(live.map(ringView))
    if (views.some(v => v === undefined || v.underReplicated !== 0 || [...v.volumePeers].sort().join() !== ids.join())) return false
    if (new Set(views.map(v => v?.fingerprint)).size !== 1) return false
    if (underZero < 0) underZero = Date.now() - t0
    const counts = await Promise.all(live.map(localEntries))
    return counts.reduce((a, b) => a + b, 0) === keys * n
  }, timeoutMs, `${live.length} peers to hold ${keys} keys x ${n} copies`, intervalMs)
  return { underZero, total: Date.now() - t0 }
}

/**
 * The live keys a peer holds in its own store, read from its data dir
 * (LMDB allows readers in other processes; read-only, so the peer may be
 * running). Sorted.
 */
export function liveKeysOnDisk (dataDir: string): string[] {
  const env = open({ path: join(dataDir, 'store'), readOnly: true, maxDbs: 16 })
  try {
    const meta = env.openDB<{ deleted: boolean, expires: number | null }, string>({ name: 'meta', encoding: 'msgpack' })
    const now = Date.now()
    const keys: string[] = []
    for (const { key, value } of meta.getRange()) {
      if (!value.deleted && (value.expires === null || value.expires > now)) keys.push(key)
    }
    return keys.sort()
  } finally {
    void env.close()
  }
}
