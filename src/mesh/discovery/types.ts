import type { Startable } from '../../common/startable.js'

export type DiscoveryMethod = 'mdns' | 'broadcast' | 'static'

/** A proposal: a peer may be at this mesh address. Membership decides whether it is one. */
export interface DiscoveredPeer {
  /** `host:port` of its mesh ROUTER. */
  address: string
  /** Its peer id, when the method tells it (static entries do not). */
  peerId?: string
  via: DiscoveryMethod
}

export interface Discovery extends Startable {
  on(event: 'peer:discovered', fn: (peer: DiscoveredPeer) => void): () => void
}

/** What this peer announces and where it looks. */
export interface DiscoveryInit {
  methods: readonly DiscoveryMethod[]
  peerId: string
  cluster: string
  /** The cluster key: beacons are signed with a key derived from it, so other clusters' beacons are ignored early. */
  clusterKey: string
  /** Address the mesh is bound to (`0.0.0.0` = every interface: others use the address they heard us from). */
  host: string
  /** The bound mesh port (after port 0 was resolved). */
  meshPort: number
  roles: readonly string[]
  /** `host:port` entries of the static join list. */
  join: readonly string[]
  /** UDP port of the broadcast beacons. @default 31416 */
  broadcastPort?: number
  /** @default BEACON_INTERVAL_MS */
  beaconIntervalMs?: number
  /** @default MDNS_REQUERY_MS */
  mdnsRequeryMs?: number
}
