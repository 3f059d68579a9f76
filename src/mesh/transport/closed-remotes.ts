import { readFileSync } from 'node:fs'

/** TCP states of a connection on its way out (proc/net/tcp codes): FIN_WAIT1/2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING. */
const CLOSING_STATES = new Set(['04', '05', '06', '07', '08', '09', '0B'])

/**
 * The remote ends (`ip:port`) of TCP connections to local `port` that are
 * closing or recently closed, from Linux's /proc/net/tcp and tcp6. libzmq's
 * socket events name only our own endpoint, so this is how a refused
 * handshake gets a remote address: the refused connection lingers here
 * (TIME_WAIT: a minute) after libzmq closed it. Empty where there is no /proc.
 */
export function closingRemotes (port: number, read: (path: string) => string = path => readFileSync(path, 'utf8')): string[] {
  const out: string[] = []
  for (const path of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = read(path)
    } catch {
      continue
    }
    out.push(...parseProcNetTcp(text, port))
  }
  return out
}

/** The remote `ip:port` of each closing connection to local `port` in one /proc/net/tcp(6) table. */
export function parseProcNetTcp (text: string, port: number): string[] {
  const out: string[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 4 || !CLOSING_STATES.has(f[3])) continue
    const local = endpoint(f[1])
    if (local === undefined || local.port !== port) continue
    const remote = endpoint(f[2])
    if (remote !== undefined) out.push(remote.ip.includes(':') ? `[${remote.ip}]:${remote.port}` : `${remote.ip}:${remote.port}`)
  }
  return out
}

/** `0100007F:1F90` (IPv4, each 32-bit word in host order: little-endian here) or a 32-hex-digit IPv6 address. */
function endpoint (hex: string): { ip: string, port: number } | undefined {
  const [addr, portHex] = hex.split(':')
  if (addr === undefined || portHex === undefined) return undefined
  const port = parseInt(portHex, 16)
  const words = addr.match(/.{8}/g)?.map(w => Buffer.from(w, 'hex').reverse()) ?? []
  if (words.length === 1) return { ip: [...words[0]].join('.'), port }
  if (words.length !== 4) return undefined
  const bytes = Buffer.concat(words)
  // An IPv4 client of a dual-stack socket: ::ffff:a.b.c.d.
  if (bytes.subarray(0, 10).every(b => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return { ip: [...bytes.subarray(12)].join('.'), port }
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return { ip: groups.join(':'), port }
}
