import { networkInterfaces } from 'node:os'

const WILDCARDS = new Set(['0.0.0.0', '*', '::', '[::]'])

/**
 * The host other peers should dial: `advertiseHost` when given; for a
 * wildcard bind, this machine's first non-internal IPv4 address (127.0.0.1
 * when it has none); else the bound host itself.
 */
export function advertisedHost (host: string, advertiseHost?: string): string {
  if (advertiseHost !== undefined && advertiseHost !== '') return advertiseHost
  if (!WILDCARDS.has(host)) return host
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address
    }
  }
  return '127.0.0.1'
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatAddress (host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`
}

/** The libzmq endpoint a ROUTER binds to. */
export function bindEndpoint (host: string, port: number): string {
  const h = host === '*' || host === '::' || host === '[::]' ? '*' : host
  return `tcp://${formatAddress(h, port)}`
}

const MESH_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/

/** Whether `address` is a dialable `host:port` (port 1-65535). */
export function isMeshAddress (address: string): boolean {
  const m = MESH_ADDRESS.exec(address)
  if (m === null) return false
  const port = Number(m[2])
  return port >= 1 && port <= 65535
}
