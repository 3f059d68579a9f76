import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { cleanupPeers, startPeer } from '../helpers/peer.js'

// Issue 13 item 5: admin/status `entries` is the live keys of the cluster
// (pulzar-api.md §9.1); a peer without the volume role holds none itself and
// must count those of the volume peers.

const entries = async (url: string): Promise<number> => (await http('GET', `${url}/admin/status`)).json?.data.entries as number

describe('admin/status entries: the cluster\'s live keys on every peer', () => {
  afterAll(async () => { await cleanupPeers() })

  it('counts the live keys of the volume peers, once per key, and follows deletes', async () => {
    const cluster = `status-${randomUUID().slice(0, 8)}`
    const a = await startPeer({ cluster })
    const b = await startPeer({ cluster, args: ['--join', a.mesh] })
    const gw = await startPeer({ cluster, args: ['--join', a.mesh, '--role', 'gateway'] })
    await converged([a, b, gw], [a.id, b.id, gw.id], 15_000)

    const keys = Array.from({ length: 23 }, (_, i) => `st/k${i}.txt`)
    for (const key of keys) expect((await http('PUT', `${gw.url}/add_key/${key}`, `v-${key}`)).status).toBe(201)
    expect(await entries(gw.url)).toBe(keys.length)
    expect((await http('DELETE', `${gw.url}/delete_key/${keys[0]}`)).status).toBe(200)
    expect(await entries(gw.url)).toBe(keys.length - 1)
    // A volume peer reports the cluster's keys too, and its own replicas apart (here every key: N is capped at 2 peers).
    expect(await entries(a.url)).toBe(keys.length - 1)
    const status = (await http('GET', `${a.url}/admin/status`)).json?.data
    expect(status.local_entries).toBe(keys.length - 1)
    expect((await http('GET', `${gw.url}/admin/status`)).json?.data.local_entries).toBe(0)
  })
})
