import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { beaconKey, decodeBeacon, encodeBeacon } from '../../../../src/mesh/discovery/index.js'
import { broadcastAddresses } from '../../../../src/mesh/discovery/broadcast.js'

const beacon = { cluster: 'pmz', peerId: 'a', meshPort: 31415, roles: ['volume'] }

describe('broadcast beacons', () => {
  it('round-trip under the same cluster key', () => {
    const key = beaconKey('secret')
    expect(decodeBeacon(encodeBeacon(beacon, key), key)).toEqual({ v: 1, ...beacon })
  })

  it('are ignored under another key, when tampered with, or when garbage', () => {
    const datagram = encodeBeacon(beacon, beaconKey('secret'))
    expect(decodeBeacon(datagram, beaconKey('other'))).toBeUndefined()
    const tampered = Buffer.from(datagram)
    tampered[5] ^= 1
    expect(decodeBeacon(tampered, beaconKey('secret'))).toBeUndefined()
    for (const size of [0, 1, 16, 17, 200, 5000]) expect(decodeBeacon(randomBytes(size), beaconKey('secret'))).toBeUndefined()
  })

  it('go to directed broadcast addresses, never to 127/8', () => {
    for (const a of broadcastAddresses('0.0.0.0')) {
      expect(a).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
      expect(a.startsWith('127.')).toBe(false)
    }
    expect(broadcastAddresses('127.0.0.1')).toEqual([])
  })
})
