import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createGateway, type Gateway, type PeerView, type RingView } from '../../../src/http/index.js'
import { asKey, createStore, type RingStatus, type Store } from '../../../src/store/index.js'
import { noExtensions, stubCoordinator } from '../../helpers/gateway-stubs.js'
import { http } from '../../helpers/http.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })

const noCoordinator = stubCoordinator()

describe('the gateway over a real store', () => {
  let store: Store | undefined
  let gateway: Gateway | undefined
  afterEach(async () => {
    await gateway?.stop()
    await store?.stop()
    await cleanupPeers()
  })

  async function start (views: { ring?: RingView, peers?: PeerView[] } = {}): Promise<{ store: Store, url: string }> {
    store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    const network = { peers: async () => views.peers ?? [] }
    gateway = createGateway({ store, network, ...(views.ring !== undefined ? { ring: views.ring } : {}), extensions: noExtensions, coordinator: noCoordinator, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0 })
    await gateway.start()
    return { store, url: gateway.url() }
  }

  it('lists keys whose stored expiry is no date, instead of failing the listing (issue 12 item 4)', async () => {
    const { store, url } = await start()
    const one = async function * (): AsyncGenerator<Uint8Array> { yield Buffer.from('x') }
    // What a peer without the gateway's bound on temporal stored: an expiry past the end of dates.
    await store.put(asKey('/absurd'), one(), { temporalDays: 1e20 })
    await store.put(asKey('/normal'), one(), { temporalDays: 1 })
    const res = await http('GET', `${url}/admin/keys`)
    expect(res.status).toBe(200)
    const [absurd, normal] = res.json!.data as Array<{ key: string, created: string, expires: string | null }>
    expect(absurd).toMatchObject({ key: '/absurd', expires: null })
    expect(Number.isFinite(Date.parse(absurd.created))).toBe(true)
    expect(normal.key).toBe('/normal')
    expect(Date.parse(normal.expires!) - Date.parse(normal.created)).toBe(86_400_000)
  })
  it('takes get_node\'s owner, admin/ring and admin/network\'s in_sync from the ring view, and does without one', async () => {
    const status: RingStatus = {
      fingerprint: 'f', replicas: 2, writeQuorum: 2, volumePeers: ['p1', 'p2', 'p3'], shares: { p1: 0.4, p2: 0.3, p3: 0.3 }, removedDead: [],
      localKeys: 0, underReplicated: 0, lastRepairMs: null, repairPendingSince: null,
      antiEntropy: { rounds: 1, keysRepaired: 0, handedOff: 0, lastRoundMs: 5, inSync: ['p2'] }
    }
    const ring: RingView = { ownerUrl: key => key === '/theirs' ? 'http://owner:1' : undefined, status: async () => status }
    const { url } = await start({ ring, peers: ['p1', 'p2', 'p3', 'w1'].map(peerRow) })
    expect((await http('GET', `${url}/get_node/theirs?temporal=1`)).json?.data).toEqual({ node: 'http://owner:1/add_key/theirs?temporal=1' })
    expect((await http('GET', `${url}/get_node/mine`)).json?.data).toEqual({ node: `${url}/add_key/mine` })
    expect((await http('GET', `${url}/admin/ring`)).json?.data).toEqual({ ...status, peer: 'p1' })
    const rows = (await http('GET', `${url}/admin/network`)).json?.data as PeerView[]
    expect(rows.map(r => r.in_sync)).toEqual([true, true, false, undefined])

    await gateway?.stop()
    await store?.stop()
    const alone = await start({ peers: [peerRow('p1')] })
    expect((await http('GET', `${alone.url}/get_node/theirs`)).json?.data).toEqual({ node: `${alone.url}/add_key/theirs` })
    expect((await http('GET', `${alone.url}/admin/ring`)).status).toBe(404)
    expect(((await http('GET', `${alone.url}/admin/network`)).json?.data as PeerView[])[0].in_sync).toBeUndefined()
  })
})

function peerRow (node: string): PeerView {
  return { node, percent: 0, free_mb: null, accepting_writes: true, load: 0, synch: true, roles: ['volume'], state: 'alive', http: '', mesh: '', last_heard: null, coordinator: false }
}
