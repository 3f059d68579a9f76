import { createSocket, type Socket } from 'node:dgram'
import { networkInterfaces } from 'node:os'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { beaconKey, decodeBeacon, encodeBeacon } from './beacon.js'
import { BEACON_INTERVAL_MS } from './constants.js'
import type { DiscoveredPeer, DiscoveryInit } from './types.js'

const DEFAULT_BROADCAST_PORT = 31416

/**
 * UDP broadcast beacons: every interval, a signed beacon to the broadcast
 * address of each IPv4 interface (or of the one the mesh is bound to); every
 * beacon heard from our cluster proposes `sender-ip:meshPort`.
 */
export class BroadcastDiscovery {
  private socket: Socket | undefined
  private timer: Timer | undefined
  private readonly key: Buffer
  private readonly port: number

  constructor (
    private readonly components: { clock: Clock, log: Logger },
    private readonly init: DiscoveryInit,
    private readonly propose: (peer: DiscoveredPeer) => void
  ) {
    this.key = beaconKey(init.clusterKey)
    this.port = init.broadcastPort ?? DEFAULT_BROADCAST_PORT
  }

  async start (): Promise<void> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true })
    socket.on('message', (datagram, rinfo) => {
      const beacon = decodeBeacon(datagram, this.key)
      if (beacon === undefined || beacon.peerId === this.init.peerId) return
      if (beacon.cluster !== this.init.cluster) { this.ignored(beacon.peerId, beacon.cluster); return }
      this.propose({ address: `${rinfo.address}:${beacon.meshPort}`, peerId: beacon.peerId, via: 'broadcast' })
    })
    socket.on('error', err => { this.components.log.warn({ err }, 'broadcast socket error') })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(this.port, () => { socket.off('error', reject); resolve() })
    })
    socket.setBroadcast(true)
    this.socket = socket
    this.beacon()
    this.timer = this.components.clock.setInterval(() => { this.beacon() }, this.init.beaconIntervalMs ?? BEACON_INTERVAL_MS)
  }

  async stop (): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    const socket = this.socket
    this.socket = undefined
    if (socket !== undefined) await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
  }

  private readonly ignoredPeers = new Set<string>()

  /** Logs each peer of another cluster once. */
  private ignored (peerId: string, cluster: string): void {
    if (this.ignoredPeers.has(peerId) || this.ignoredPeers.size > 1000) return
    this.ignoredPeers.add(peerId)
    this.components.log.info({ remote: peerId, cluster }, 'ignored a peer of other cluster')
  }

  private beacon (): void {
    const socket = this.socket
    if (socket === undefined) return
    const payload = encodeBeacon({ cluster: this.init.cluster, peerId: this.init.peerId, meshPort: this.init.meshPort, roles: [...this.init.roles] }, this.key)
    for (const address of broadcastAddresses(this.init.host)) {
      socket.send(payload, this.port, address, err => {
        if (err !== null) this.components.log.debug({ err, address }, 'beacon not sent')
      })
    }
  }
}

/** Directed broadcast addresses of the non-internal IPv4 interfaces (only the one holding `host` when it is specific). */
export function broadcastAddresses (host: string): string[] {
  const out = new Set<string>()
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue
      if (host !== '0.0.0.0' && a.address !== host) continue
      const ip = toInt(a.address)
      const mask = toInt(a.netmask)
      out.add(toDotted((ip & mask) | (~mask >>> 0)))
    }
  }
  return [...out]
}

const toInt = (dotted: string): number => dotted.split('.').reduce((n, part) => ((n << 8) | Number(part)) >>> 0, 0)
const toDotted = (n: number): string => [24, 16, 8, 0].map(s => (n >>> s) & 255).join('.')
