import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createGateway, type Gateway } from '../../../src/http/index.js'
import { createStore, type Store } from '../../../src/store/index.js'
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

  async function start (): Promise<{ store: Store, url: string }> {
    store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator: noCoordinator, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0 })
    await gateway.start()
    return { store, url: gateway.url() }
  }

  it('lists keys whose stored expiry is no date, instead of failing the listing (issue 12 item 4)', async () => {
    const { store, url } = await start()
    const one = async function * (): AsyncGenerator<Uint8Array> { yield Buffer.from('x') }
    // What a peer without the gateway's bound on temporal stored: an expiry past the end of dates.
    await store.put('/absurd', one(), { temporalDays: 1e20 })
    await store.put('/normal', one(), { temporalDays: 1 })
    const res = await http('GET', `${url}/admin/keys`)
    expect(res.status).toBe(200)
    const [absurd, normal] = res.json!.data as Array<{ key: string, created: string, expires: string | null }>
    expect(absurd).toMatchObject({ key: '/absurd', expires: null })
    expect(Number.isFinite(Date.parse(absurd.created))).toBe(true)
    expect(normal.key).toBe('/normal')
    expect(Date.parse(normal.expires!) - Date.parse(normal.created)).toBe(86_400_000)
  })
})
