import { createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto'

/** The CurveZMQ keys of a cluster, as libzmq wants them (Z85, 40 characters). */
export interface CurveKeys {
  /** Every peer's ROUTER is a Curve server with this key pair. */
  serverPublicKey: string
  serverSecretKey: string
  /** Every peer's DEALERs are Curve clients with this key pair. */
  clientPublicKey: string
  clientSecretKey: string
  /** The client public key in raw form, as ZAP requests carry it. */
  clientPublicKeyRaw: Buffer
}

const SALT = 'pmz mesh curve v1'
// PKCS#8 prefix of an X25519 private key; the 32 secret bytes follow.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

/**
 * Derives the cluster's Curve key pairs from its key: HKDF-SHA256 of the key
 * gives each 32-byte X25519 secret, node:crypto its public key. Every peer
 * with the same key (and cluster name, when given) derives the same pairs;
 * anyone else can neither complete a handshake nor read the traffic.
 */
export function deriveCurveKeys (clusterKey: string, cluster = ''): CurveKeys {
  const server = keyPair(clusterKey, `${cluster}\0server`)
  const client = keyPair(clusterKey, `${cluster}\0client`)
  return {
    serverPublicKey: z85Encode(server.publicKey),
    serverSecretKey: z85Encode(server.secretKey),
    clientPublicKey: z85Encode(client.publicKey),
    clientSecretKey: z85Encode(client.secretKey),
    clientPublicKeyRaw: client.publicKey
  }
}

function keyPair (clusterKey: string, info: string): { secretKey: Buffer, publicKey: Buffer } {
  const secretKey = Buffer.from(hkdfSync('sha256', Buffer.from(clusterKey, 'utf8'), SALT, info, 32))
  // RFC 7748 clamping; libsodium clamps too, so this only makes the stored secret canonical.
  secretKey[0] &= 248
  secretKey[31] &= 127
  secretKey[31] |= 64
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  return { secretKey, publicKey: Buffer.from(jwk.x as string, 'base64url') }
}

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#'

/** ZeroMQ's Z85 encoding (RFC 32) of a buffer whose length is a multiple of 4. */
export function z85Encode (data: Buffer): string {
  if (data.length % 4 !== 0) throw new RangeError('z85 needs a multiple of 4 bytes')
  let out = ''
  for (let i = 0; i < data.length; i += 4) {
    let value = data.readUInt32BE(i)
    let block = ''
    for (let j = 0; j < 5; j++) {
      block = Z85[value % 85] + block
      value = Math.floor(value / 85)
    }
    out += block
  }
  return out
}
