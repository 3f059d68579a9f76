import { Bonjour, type Browser, type Service } from 'bonjour-service'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { MDNS_REQUERY_MS, MDNS_SERVICE_TYPE } from './constants.js'
import type { DiscoveredPeer, DiscoveryInit } from './types.js'

/**
 * mDNS with bonjour-service: publishes `_pmz._tcp` named after the peer id,
 * TXT {id, cluster, roles, mesh}, and browses for the same type. The host
 * name is the peer id (`<id>.local`), not the machine's, so that peers
 * sharing a host name (containers, namespaces) do not answer for each other.
 */
export class MdnsDiscovery {
  private bonjour: Bonjour | undefined
  private browser: Browser | undefined
  private timer: Timer | undefined
  private readonly ignoredPeers = new Set<string>()

  constructor (
    private readonly components: { clock: Clock, log: Logger },
    private readonly init: DiscoveryInit,
    private readonly propose: (peer: DiscoveredPeer) => void
  ) {}

  async start (): Promise<void> {
    const bound = this.init.host !== '0.0.0.0'
    // Bound to one address: send multicast out of its interface, but listen on the wildcard
    // (a socket bound to a unicast address never receives the multicast answers).
    const bonjour = new Bonjour(bound ? { interface: this.init.host, bind: '0.0.0.0' } as never : {}, (err: Error) => {
      this.components.log.warn({ err }, 'mdns error')
    })
    this.bonjour = bonjour
    bonjour.publish({
      name: this.init.peerId,
      type: MDNS_SERVICE_TYPE,
      port: this.init.meshPort,
      host: `${this.init.peerId}.local`,
      disableIPv6: true,
      txt: { id: this.init.peerId, cluster: this.init.cluster, roles: this.init.roles.join(','), mesh: bound ? `${this.init.host}:${this.init.meshPort}` : '' }
    })
    this.browser = bonjour.find({ type: MDNS_SERVICE_TYPE }, service => { this.found(service) })
    this.browser.on('txt-update', (service: Service) => { this.found(service) })
    this.timer = this.components.clock.setInterval(() => { this.browser?.update() }, this.init.mdnsRequeryMs ?? MDNS_REQUERY_MS)
  }

  async stop (): Promise<void> {
    this.timer?.cancel()
    this.browser?.stop()
    const bonjour = this.bonjour
    this.bonjour = undefined
    if (bonjour === undefined) return
    // unpublishAll sends the goodbye packets; destroy closes the sockets.
    await new Promise<void>(resolve => { bonjour.unpublishAll(() => { resolve() }) })
    await new Promise<void>(resolve => { bonjour.destroy(() => { resolve() }) })
  }

  private found (service: Service): void {
    const txt = (service.txt ?? {}) as Record<string, unknown>
    const id = typeof txt.id === 'string' ? txt.id : service.name
    if (id === this.init.peerId) return
    if (txt.cluster !== this.init.cluster) {
      if (!this.ignoredPeers.has(id) && this.ignoredPeers.size < 1000) {
        this.ignoredPeers.add(id)
        this.components.log.info({ remote: id, cluster: txt.cluster }, 'ignored a peer of other cluster')
      }
      return
    }
    const announced = typeof txt.mesh === 'string' && txt.mesh !== '' ? txt.mesh : undefined
    const host = service.referer?.address ?? service.addresses?.find(a => !a.includes(':'))
    const address = announced ?? (host !== undefined ? `${host}:${service.port}` : undefined)
    if (address === undefined) return
    this.propose({ address, peerId: id, via: 'mdns' })
  }
}
