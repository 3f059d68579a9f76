import { EventEmitter } from 'node:events'
import type { Clock, Timer } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { startAll, stopAll, type Startable } from '../../common/startable.js'
import { BroadcastDiscovery } from './broadcast.js'
import { STATIC_REPROPOSE_MS } from './constants.js'
import { MdnsDiscovery } from './mdns.js'
import type { DiscoveredPeer, Discovery, DiscoveryInit } from './types.js'

export type { DiscoveredPeer, Discovery, DiscoveryInit, DiscoveryMethod } from './types.js'
export { beaconKey, decodeBeacon, encodeBeacon, type Beacon } from './beacon.js'

export interface DiscoveryComponents { clock: Clock, log: Logger }

/** Runs the methods `init.methods` names; each only proposes addresses. */
export function createDiscovery (components: DiscoveryComponents, init: DiscoveryInit): Discovery {
  return new CombinedDiscovery(components, init)
}

class CombinedDiscovery implements Discovery {
  private readonly events = new EventEmitter()
  private readonly parts: Startable[] = []
  private timer: Timer | undefined

  constructor (private readonly components: DiscoveryComponents, private readonly init: DiscoveryInit) {
    const propose = (peer: DiscoveredPeer): void => { this.events.emit('peer:discovered', peer) }
    if (init.methods.includes('mdns')) this.parts.push(new MdnsDiscovery(components, init, propose))
    if (init.methods.includes('broadcast')) this.parts.push(new BroadcastDiscovery(components, init, propose))
  }

  on (event: 'peer:discovered', fn: (peer: DiscoveredPeer) => void): () => void {
    this.events.on(event, fn)
    return () => { this.events.off(event, fn) }
  }

  async start (): Promise<void> {
    await startAll(this.parts, err => { this.components.log.warn({ err }, 'discovery stop failed') })
    if (this.init.methods.includes('static') && this.init.join.length > 0) {
      const proposeAll = (): void => {
        for (const address of this.init.join) this.events.emit('peer:discovered', { address, via: 'static' } satisfies DiscoveredPeer)
      }
      // Deferred one turn so that listeners registered right after start() see the first round.
      setImmediate(proposeAll)
      this.timer = this.components.clock.setInterval(proposeAll, STATIC_REPROPOSE_MS)
    }
  }

  async stop (): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    await stopAll(this.parts, err => { this.components.log.warn({ err }, 'discovery stop failed') })
  }
}
