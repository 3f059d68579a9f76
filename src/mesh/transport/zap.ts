import * as zmq from 'zeromq'

/** Where libzmq sends its ZAP requests (RFC 27), one handler per context. */
const ZAP_ENDPOINT = 'inproc://zeromq.zap.01'
const BIND_ATTEMPTS = 100
const BIND_RETRY_MS = 10

interface Domain {
  /** The one Curve client public key the domain admits (raw, 32 bytes). */
  allowed: Buffer
  onDeny(address: string, reason: string): void
}

/**
 * The ZAP handler of one ZeroMQ context. Each ROUTER sets its own ZAP domain
 * and registers the client key it admits; libzmq asks here during every Curve
 * handshake, and a denial ends the handshake and is reported. Defence in
 * depth: a client must also know the server key to get this far.
 */
export class ZapAuthenticator {
  private readonly domains = new Map<string, Domain>()
  private socket: zmq.Reply | undefined
  private ready: Promise<void> | undefined

  constructor (private readonly context: zmq.Context) {}

  /** Admits `allowed` on `domain`; the returned function withdraws it (the last one closes the handler). */
  async register (domain: string, allowed: Buffer, onDeny: Domain['onDeny']): Promise<() => void> {
    this.domains.set(domain, { allowed, onDeny })
    try {
      this.ready ??= this.open()
      await this.ready
    } catch (err) {
      this.domains.delete(domain)
      throw err
    }
    return () => {
      if (!this.domains.delete(domain) || this.domains.size > 0) return
      this.socket?.close()
      this.socket = undefined
      this.ready = undefined
    }
  }

  private async open (): Promise<void> {
    const socket = new zmq.Reply({ context: this.context, linger: 0 })
    try {
      // libzmq frees an inproc endpoint once the closed socket is reaped, a moment after close(): retry a while.
      for (let attempt = 0; ; attempt++) {
        try {
          await socket.bind(ZAP_ENDPOINT)
          break
        } catch (err) {
          if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= BIND_ATTEMPTS) throw err
          await new Promise(resolve => setTimeout(resolve, BIND_RETRY_MS))
        }
      }
    } catch (err) {
      socket.close()
      this.ready = undefined
      throw err
    }
    this.socket = socket
    void this.serve(socket).catch(() => {})
  }

  private async serve (socket: zmq.Reply): Promise<void> {
    for await (const frames of socket) {
      await socket.send(this.answer(frames))
    }
  }

  /** RFC 27: [version, request id, domain, address, identity, mechanism, credentials...] -> reply frames. */
  private answer (frames: Buffer[]): Array<string | Buffer> {
    const [version, requestId, domainName, address, , mechanism, key] = frames
    const reply = (status: '200' | '400' | '500', text: string): Array<string | Buffer> =>
      ['1.0', requestId ?? '', status, text, status === '200' ? 'pmz' : '', '']
    if (version?.toString() !== '1.0') return reply('500', 'unsupported ZAP version')
    const domain = this.domains.get(domainName?.toString() ?? '')
    const remote = address?.toString() ?? ''
    if (domain === undefined) return reply('400', 'unknown domain')
    if (mechanism?.toString() !== 'CURVE') {
      domain.onDeny(remote, `mechanism ${mechanism?.toString() ?? '?'} refused`)
      return reply('400', 'curve required')
    }
    if (key === undefined || !key.equals(domain.allowed)) {
      domain.onDeny(remote, 'unknown curve client key')
      return reply('400', 'unknown key')
    }
    return reply('200', 'OK')
  }
}

const authenticators = new WeakMap<zmq.Context, ZapAuthenticator>()

export function zapFor (context: zmq.Context): ZapAuthenticator {
  let zap = authenticators.get(context)
  if (zap === undefined) {
    zap = new ZapAuthenticator(context)
    authenticators.set(context, zap)
  }
  return zap
}
