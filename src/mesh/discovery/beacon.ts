import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { BEACON_VERSION } from './constants.js'

/** What a broadcast beacon says. The sender's IP comes from the datagram itself. */
export interface Beacon {
  v: number
  cluster: string
  peerId: string
  meshPort: number
  roles: string[]
}

const MAC_BYTES = 16

/** A beacon key derived from the cluster key (never the key itself on the wire). */
export function beaconKey (clusterKey: string): Buffer {
  return createHash('sha256').update('pmz beacon v1\0').update(clusterKey).digest()
}

/** JSON payload followed by a truncated HMAC-SHA256 of it. */
export function encodeBeacon (beacon: Omit<Beacon, 'v'>, key: Buffer): Buffer {
  const body = Buffer.from(JSON.stringify({ v: BEACON_VERSION, ...beacon }))
  const mac = createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES)
  return Buffer.concat([body, mac])
}

/** The beacon, or undefined when it is malformed, of another version, or not signed with our key. */
export function decodeBeacon (datagram: Buffer, key: Buffer): Beacon | undefined {
  if (datagram.length <= MAC_BYTES || datagram.length > 2048) return undefined
  const body = datagram.subarray(0, datagram.length - MAC_BYTES)
  const mac = datagram.subarray(datagram.length - MAC_BYTES)
  const expected = createHmac('sha256', key).update(body).digest().subarray(0, MAC_BYTES)
  if (!timingSafeEqual(mac, expected)) return undefined
  try {
    const b = JSON.parse(body.toString('utf8')) as Partial<Beacon>
    if (b.v !== BEACON_VERSION || typeof b.cluster !== 'string' || typeof b.peerId !== 'string' ||
      !Number.isInteger(b.meshPort) || !Array.isArray(b.roles)) return undefined
    return b as Beacon
  } catch {
    return undefined
  }
}
