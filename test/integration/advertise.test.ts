import { randomUUID } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { network } from '../helpers/cluster.js'
import { cleanupPeers, startPeer } from '../helpers/peer.js'

// Issue 13 item 3: a peer bound to 0.0.0.0 must give other machines an
// address they can use, in admin/network, get_node and its ready line.

/** What a peer bound to 0.0.0.0 without --advertise should advertise: this machine's first LAN IPv4, else loopback. */
function lanAddress (): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return '127.0.0.1'
}

const hostOf = (url: string): string => new URL(url).hostname

describe('advertised addresses of peers bound to 0.0.0.0', () => {
  afterAll(async () => { await cleanupPeers() })

  it('--advertise names the address in admin/network and get_node; without it, the LAN address, never 0.0.0.0', async () => {
    const cluster = `adv-${randomUUID().slice(0, 8)}`
    const a = await startPeer({ cluster, host: '0.0.0.0', args: ['--advertise', '127.0.0.2'] })
    expect(hostOf(a.url)).toBe('127.0.0.2')
    expect(a.mesh).toMatch(/^127\.0\.0\.2:\d+$/)
    const rows = await network(a)
    expect(rows[0]).toMatchObject({ node: a.id, mesh: a.mesh })
    expect(hostOf(rows[0].http)).toBe('127.0.0.2')
    const node = await http('GET', `${a.url}/get_node/adv/one.txt`)
    expect(node.status).toBe(200)
    expect(hostOf(node.json?.data.node as string)).toBe('127.0.0.2')

    const b = await startPeer({ cluster, host: '0.0.0.0', args: ['--join', a.mesh] })
    const lan = lanAddress()
    expect(hostOf(b.url)).toBe(lan)
    await waitFor(async () => (await network(a)).some(r => r.node === b.id && r.state === 'alive'), 15_000, 'a to list b alive')
    const seen = (await network(a)).find(r => r.node === b.id)
    expect(hostOf(seen?.http ?? '')).toBe(lan)
    expect(seen?.mesh).toMatch(new RegExp(`^${lan.replace(/\./g, '\\.')}:\\d+$`))
    // b reaches a at the advertised address too (the cluster formed through it), and so does a client.
    expect((await http('GET', `${seen?.http ?? ''}/admin/status`)).status).toBe(200)
  })

  it('refuses a malformed --advertise with one clear line', async () => {
    for (const bad of ['not a host!', '0.0.0.0', '10.0.0.1:31415']) {
      await expect(startPeer({ host: '0.0.0.0', args: ['--advertise', bad], readyTimeoutMs: 10_000 })).rejects.toThrow(/pmz: flag --advertise: expected a host name/)
    }
  })
})
