import { systemClock } from '../../../../src/common/clock.js'
import { createLogger } from '../../../../src/common/logger.js'
import { MemoryNetwork, createTransport, type Transport } from '../../../../src/mesh/transport/index.js'
import { transportContract } from './contract.js'
import { freePort } from './helpers.js'

const log = createLogger({ level: 'silent' })

let network = new MemoryNetwork({ clock: systemClock })
transportContract('MemoryTransport', {
  create: (peerId, init = {}): Transport => network.createTransport(peerId, { clusterKey: init.clusterKey ?? 'contract' }),
  unreachable: async () => 'nobody:1',
  cleanup: async () => { network = new MemoryNetwork({ clock: systemClock }) }
})

transportContract('ZmqTransport', {
  create: (peerId, init = {}): Transport => createTransport({ clock: systemClock, log }, {
    peerId, host: '127.0.0.1', port: 0, clusterKey: init.clusterKey ?? 'contract'
  }),
  unreachable: async () => `127.0.0.1:${await freePort()}`
})
