import { randomBytes, randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { converged, network } from '../helpers/cluster.js'
import { cleanupPeers, killPeer, restartPeer, runCli, startPeer, type Peer } from '../helpers/peer.js'

async function stateOf (viewer: Peer, peerId: string): Promise<string | undefined> {
  return (await network(viewer)).find(r => r.node === peerId)?.state
}

describe('mesh of real peers (static join, 127.0.0.1)', () => {
  const cluster = `mesh-${randomUUID().slice(0, 8)}`
  const peers: Peer[] = []
  /** Refused traffic is summed up every 2 s here (10 s by default), so the tests of it wait less. */
  const SUMMARY_S = 2
  const env = { PMZ_REJECT_SUMMARY_S: String(SUMMARY_S) }

  afterAll(async () => { await cleanupPeers() })

  it('five peers converge, with every field admin/network names', async () => {
    peers.push(await startPeer({ cluster, env }))
    const join = ['--join', peers[0].mesh]
    peers.push(...await Promise.all([1, 2, 3, 4].map(async () => await startPeer({ cluster, env, args: join }))))
    await converged(peers, peers.map(p => p.id), 15_000)

    const rows = await network(peers[2])
    expect(rows).toHaveLength(5)
    for (const r of rows) {
      expect(r.roles).toEqual(['volume', 'worker', 'gateway', 'coordinator'])
      expect(r.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(r.mesh).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(r.percent).toBeGreaterThanOrEqual(0)
      expect(r.percent).toBeLessThanOrEqual(100)
    }
    const one = await http('GET', `${peers[2].url}/admin/network/${peers[4].id}`)
    expect(one.status).toBe(200)
    expect(one.json?.data.node).toBe(peers[4].id)
    expect(one.json?.data.mesh).toBe(peers[4].mesh)
  })

  it('a kill -9 is shown dead on every other peer within 3 s, and the peer rejoins after a restart', async () => {
    const victim = peers[3]
    const others = peers.filter(p => p !== victim)
    await killPeer(victim)
    const killedAt = Date.now()
    const seenDead = new Map<string, number>()
    await waitFor(async () => {
      for (const o of others) {
        if (!seenDead.has(o.id) && await stateOf(o, victim.id) === 'dead') seenDead.set(o.id, Date.now() - killedAt)
      }
      return seenDead.size === others.length
    }, 10_000, 'every peer to see the killed peer dead', 50)
    const slowest = Math.max(...seenDead.values())
    console.log(`kill -9 seen dead after ${[...seenDead.values()].join(', ')} ms`)
    expect(slowest).toBeLessThan(3_000)

    peers[3] = await restartPeer(victim)
    expect(peers[3].id).toBe(victim.id)
    await converged(peers, peers.map(p => p.id), 15_000)
  })

  it('a peer with a wrong key is never listed, and the others keep working', async () => {
    const intruder = await startPeer({ cluster, args: ['--join', peers[0].mesh, '--key', 'not-the-cluster-key'] })
    // The contact happened and was refused: the intruder's own view stays alone.
    await waitFor(() => peers[0].lines.some(l => l.includes('rejected')), 10_000, 'the first peer to log a rejected handshake')
    for (const p of peers) {
      expect((await network(p)).some(r => r.node === intruder.id)).toBe(false)
    }
    expect((await network(intruder)).map(r => r.node)).toEqual([intruder.id])
    // The intruder says why it is alone: its join peer refuses its key.
    await waitFor(() => intruder.lines.some(l => l.includes('refuses our handshake')), 10_000, 'the intruder to warn that its join peer refuses its key')
    const warning = JSON.parse(intruder.lines.find(l => l.includes('refuses our handshake')) as string) as { level: number, peer: string }
    expect(warning.level).toBe(40)
    expect(warning.peer).toBe(peers[0].mesh)
    // The cluster's rejection lines name where the refused handshakes came from.
    const remotesLogged = (): string[] => peers[0].lines.filter(l => l.includes('"mesh traffic rejected"'))
      .flatMap(l => (JSON.parse(l) as { remotes: string[] }).remotes)
    // Named at once, or at the latest in the next summary.
    await waitFor(() => remotesLogged().length > 0, 15_000, 'a rejection line naming a remote address')
    const remotes = remotesLogged()
    const memberPorts = new Set(peers.map(p => p.mesh))
    for (const r of remotes) {
      expect(r).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(memberPorts.has(r)).toBe(false)
    }
    await converged(peers, peers.map(p => p.id), 5_000)
    await killPeer(intruder)
  })

  it('a flood of random-byte connections is counted in a few summary lines, and the peer keeps working', async () => {
    const target = peers[2]
    const [host, port] = target.mesh.split(':')
    const linesBefore = target.lines.length
    const CONNECTIONS = 300
    const started = Date.now()
    for (let i = 0; i < CONNECTIONS; i += 30) {
      await Promise.all(Array.from({ length: 30 }, async () => await new Promise<void>((resolve) => {
        const greeting = Buffer.alloc(64)
        greeting[0] = 0xff; greeting[9] = 0x7f; greeting[10] = 3
        greeting.write('CURVE', 12)
        const socket = connect(Number(port), host, () => { socket.end(Buffer.concat([greeting, randomBytes(200)])) })
        socket.on('error', () => { resolve() })
        socket.on('close', () => { resolve() })
        socket.resume()
      })))
    }
    const tookMs = Date.now() - started
    const summaries = (): Array<{ count: number, level: number }> => target.lines.slice(linesBefore)
      .filter(l => l.includes('"mesh traffic rejected"')).map(l => JSON.parse(l) as { count: number, level: number })
    // Every connection is counted once the last summary is out (one per interval).
    await waitFor(() => summaries().reduce((n, s) => n + s.count, 0) >= CONNECTIONS, 25_000, 'the summaries to count every connection')
    const lines = summaries()
    console.log(`${CONNECTIONS} random-byte connections in ${tookMs} ms: ${lines.length} log lines, counts ${lines.map(s => s.count).join(', ')}`)
    expect(lines.length).toBeLessThanOrEqual(2 + Math.ceil((Date.now() - started) / (SUMMARY_S * 1000)))
    for (const s of lines) expect(s.level).toBe(40)
    expect((await http('GET', `${target.url}/admin/status`)).status).toBe(200)
    await converged(peers, peers.map(p => p.id), 5_000)
    expect(target.proc.exitCode).toBeNull()
  })

  it('random bytes on a mesh port leave the peer healthy', async () => {
    const target = peers[1]
    const [host, port] = target.mesh.split(':')
    for (const size of [1, 10, 64, 1024, 65536]) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), host, () => { socket.end(randomBytes(size)) })
        socket.on('error', () => { resolve() })
        socket.on('close', () => { resolve() })
        socket.resume()
      })
    }
    // A well-formed ZMTP greeting followed by garbage, too.
    await new Promise<void>((resolve) => {
      const greeting = Buffer.alloc(64)
      greeting[0] = 0xff; greeting[9] = 0x7f; greeting[10] = 3; greeting[11] = 0
      greeting.write('CURVE', 12)
      const socket = connect(Number(port), host, () => { socket.end(Buffer.concat([greeting, randomBytes(4096)])) })
      socket.on('error', () => { resolve() })
      socket.on('close', () => { resolve() })
      socket.resume()
    })
    expect((await http('GET', `${target.url}/admin/status`)).status).toBe(200)
    await converged(peers, peers.map(p => p.id), 5_000)
    expect(target.proc.exitCode).toBeNull()
  })

  it('pmz peers prints the membership as a table', async () => {
    const out = await runCli(['peers', '--gateway', peers[0].url])
    expect(out.code).toBe(0)
    const text = out.stdout.toString()
    const lines = text.trim().split('\n')
    expect(lines[0]).toMatch(/^PEER\s+STATE\s+ROLES/)
    expect(lines).toHaveLength(1 + peers.length)
    for (const p of peers) expect(text).toContain(p.id)
  })
})
