import { randomBytes, randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { converged } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { cleanupPeers, startPeer, type Peer } from '../helpers/peer.js'

/**
 * Issue 12, items 1 and 2: concurrent add_key of one new key through
 * several gateways. Exactly one writer gets 201, the others 409, and every
 * later read returns the 201's bytes.
 */
describe('same-key add_key races over 3 real peers (N=3, W=2)', () => {
  const cluster = `race-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', '3', '--write-quorum', '2']
  const peers: Peer[] = []

  afterAll(async () => { await cleanupPeers() })

  it('120 rounds of 6 writers through 3 gateways: one 201 per key, and its value is what every peer reads', async () => {
    peers.push(await startPeer({ cluster, args }))
    peers.push(...await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh] }))))
    await converged(peers, peers.map(p => p.id), 15_000)
    const doubles: string[] = []
    const wrong: string[] = []
    const rounds = 120
    for (let round = 0; round < rounds; round++) {
      const key = `race/${round}-${randomUUID().slice(0, 8)}`
      // Mostly small values (one message per replica), every fifth round 200 KB (streamed).
      const values = Array.from({ length: 6 }, (_, i) => round % 5 === 4 ? randomBytes(200_000) : Buffer.from(`writer ${i} of ${key}`))
      const answers = await Promise.all(values.map(async (v, i) => await http('PUT', `${peers[i % 3].url}/add_key/${key}`, v)))
      const statuses = answers.map(a => a.status === 201 || a.status === 409 ? a.status : `${a.status} ${a.json?.msg ?? a.body.toString()}`)
      for (const s of statuses) expect([201, 409], `statuses ${statuses.join(',')}`).toContain(s)
      const winners = statuses.flatMap((s, i) => s === 201 ? [i] : [])
      if (winners.length !== 1) { doubles.push(`${key}: ${statuses.join(',')}`); continue }
      for (const p of peers) {
        const r = await http('GET', `${p.url}/get_key/${key}`)
        if (r.status !== 200 || !r.body.equals(values[winners[0]])) wrong.push(`${key} via ${p.id}: ${r.status}`)
      }
    }
    expect(doubles, `rounds without exactly one 201: ${doubles.join(' | ')}`).toEqual([])
    expect(wrong, 'reads that did not return the 201 value').toEqual([])
    // The reads were not all surveys: peers holding read leases answered some from their own copy (the case that could read a losing racer's value).
    const alone = await Promise.all(peers.map(async p => {
      const text = (await http('GET', `${p.url}/metrics`)).body.toString()
      return Number(/^pmz_replication_reads_total\{answered="alone"\} (\d+)$/m.exec(text)?.[1] ?? 0)
    }))
    expect(alone.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
  }, 240_000)
})
