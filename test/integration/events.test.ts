// GET /events (EVENTS-CONTRACT, issue 18) on real peers: a 3-peer cluster
// watched from a follower (hello, snapshots, a peer joining, a key written
// and deleted, a job's states and progress, resume after Last-Event-ID, the
// coordinator kill -9'd: suspect, dead, a new leader), and beside it one
// peer with a 20-event buffer and no key sampling (a resume too old for it
// gets `reset`; a client that never reads is dropped, the peer's memory
// bounded). Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { Agent, request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { converged, pool } from '../helpers/cluster.js'
import { openEvents, type ClusterEvent, type EventClient } from '../helpers/events.js'
import { http, waitFor } from '../helpers/http.js'
import { catalogued, launch } from '../helpers/jobs.js'
import { cleanupPeers, freePort, killPeer, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const SEED = `export default async (args, ctx) => {
  ctx.progress(0.5, 'half')
  await new Promise(resolve => setTimeout(resolve, 300))
  return 1
}
`

function seedsDir (): string {
  const dir = tempDir('pmz-ev-seeds-')
  mkdirSync(join(dir, 'ev'))
  writeFileSync(join(dir, 'ev/half.mjs'), SEED)
  return dir
}


async function leaderOf (peer: Peer): Promise<string | undefined> {
  const res = await http('GET', `${peer.url}/admin/coordinator`).catch(() => undefined)
  return res?.status === 200 ? (res.json?.data as { leader?: { peerId: string } }).leader?.peerId : undefined
}

/** Current resident set size of a process, bytes. */
function rss (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

const isPeer = (id: string, state: string) => (e: ClusterEvent): boolean => e.event === 'peers' && e.data.type === 'peer' && e.data.id === id && e.data.state === state

describe('GET /events', () => {
  afterAll(cleanupPeers)

  it.concurrent('a follower of a 3-peer cluster sees peers, keys, a job and a coordinator failover, and resumes exactly after Last-Event-ID', async () => {
    const cluster = `ev-${randomUUID().slice(0, 8)}`
    // a (no join list) starts the coordinator and leads; b, joining it, is the follower watched.
    const seed = `127.0.0.1:${await freePort()}`
    const [a, b] = await Promise.all([
      startPeer({ cluster, args: ['--seeds', seedsDir(), '--mesh-port', seed.split(':')[1]] }),
      startPeer({ cluster, args: ['--seeds', seedsDir(), '--join', seed] })
    ])
    await converged([a, b], [a.id, b.id], 10_000)
    await waitFor(async () => await leaderOf(b) === a.id, 10_000, `${a.id} to lead`)

    const stream = await openEvents(`${b.url}/events`)
    expect(stream.status).toBe(200)
    const snapshot = await stream.until(e => e.event === 'coordinator', 5_000, 'the snapshots')
    expect(stream.events[0]).toEqual({ event: 'hello', data: { peer: b.id, seq: expect.any(Number) } })
    expect(stream.events[1].event).toBe('peers')
    expect(stream.events[1].data.type).toBe('snapshot')
    expect(stream.events[1].data.peers.map((p: { node: string }) => p.node).sort()).toEqual([a.id, b.id].sort())
    expect(stream.events[1].data.peers[0]).toHaveProperty('last_heard')
    expect(snapshot).toEqual({ event: 'coordinator', data: { type: 'snapshot', leader: a.id, term: expect.any(Number) } })
    expect(stream.events.slice(0, 3).every(e => e.id === undefined)).toBe(true)

    // A peer joins.
    const c = await startPeer({ cluster, args: ['--seeds', seedsDir(), '--join', a.mesh] })
    await stream.until(isPeer(c.id, 'alive'), 10_000, `${c.id} alive`)
    await converged([a, b, c], [a.id, b.id, c.id], 10_000)
    // It is on the ring now, and the repair that follows ends.
    const ring = await stream.until(e => e.event === 'ring' && e.data.type === 'ring' && e.data.peers.includes(c.id), 10_000, 'the ring with c')
    expect(ring.data.peers).toEqual([a.id, b.id, c.id].sort())
    await stream.until(e => e.event === 'ring' && e.data.type === 'repair' && e.data.done === true && (e.id ?? 0) > (ring.id ?? 0), 10_000, 'the repair done')

    // A key written and deleted through this peer (a replica of every key: N = 3).
    expect((await http('PUT', `${b.url}/add_key/ev/one.txt`, 'hello')).status).toBe(201)
    expect((await http('DELETE', `${b.url}/delete_key/ev/one.txt`)).status).toBe(200)
    const added = await stream.until(e => e.event === 'keys' && e.data.type === 'added', 5_000, 'the key added')
    expect(added.data).toEqual({ type: 'added', key: '/ev/one.txt', size: 5 })
    await stream.until(e => e.event === 'keys' && e.data.type === 'deleted' && e.data.key === '/ev/one.txt', 5_000, 'the key deleted')

    // A job: each state and its progress.
    await catalogued(b, 'ev/half')
    const jobId = await launch(b, 'ev/half')
    await stream.until(e => e.event === 'jobs' && e.data.job_id === jobId && e.data.state === 'ready', 10_000, `job ${jobId} ready`)
    const job = stream.events.filter(e => e.event === 'jobs' && e.data.job_id === jobId).map(e => e.data)
    expect(job[0]).toMatchObject({ type: 'job', script: 'ev/half', state: 'queued', status: 'pending', node: null, attempt: 0, progress: null })
    expect(job.map(j => j.state)).toEqual(expect.arrayContaining(['queued', 'assigned', 'running', 'ready']))
    expect(job.find(j => j.progress !== null)).toMatchObject({ state: 'running', progress: { fraction: 0.5, text: 'half' } })
    expect(job.at(-1)).toMatchObject({ status: 'completed', node: expect.any(String), attempt: 1 })

    // Ids increase; a resume after the key's event gets exactly what followed it, then live events.
    const ids = stream.events.flatMap(e => e.id === undefined ? [] : [e.id])
    expect(ids.every((id, i) => i === 0 || id > ids[i - 1])).toBe(true)
    const after = added.id as number
    const resumed = await openEvents(`${b.url}/events`, { 'last-event-id': String(after) })
    const hello = await resumed.until(e => e.event === 'hello', 5_000, 'hello')
    const seq = hello.data.seq as number
    await stream.until(e => (e.id ?? 0) >= seq, 5_000, `event ${seq} on the first stream`)
    await resumed.until(e => (e.id ?? 0) >= seq, 5_000, `event ${seq} replayed`)
    const missed = stream.events.filter(e => e.id !== undefined && e.id > after && e.id <= seq)
    expect(missed.length).toBeGreaterThan(3)
    expect(resumed.events.slice(1).filter(e => (e.id ?? 0) <= seq)).toEqual(missed)
    expect(resumed.events.some(e => e.data?.type === 'snapshot')).toBe(false)
    resumed.close()

    // An id older than the buffer: reset, then the snapshots (here through ?lastEventId= and a topic filter).
    const stale = await openEvents(`${b.url}/events?topics=coordinator&lastEventId=1`)
    await stale.until(e => e.event === 'coordinator', 5_000, 'the snapshot after reset')
    expect(stale.events.map(e => [e.event, e.data.type ?? e.data.reason])).toEqual([['hello', undefined], ['reset', 'gap'], ['coordinator', 'snapshot']])
    stale.close()

    // The coordinator is kill -9'd: suspect, then dead, and another peer leads in a later term.
    await killPeer(a)
    await stream.until(isPeer(a.id, 'suspect'), 10_000, `${a.id} suspect`)
    await stream.until(isPeer(a.id, 'dead'), 10_000, `${a.id} dead`)
    const next = await stream.until(e => e.event === 'coordinator' && e.data.type === 'leader' && e.data.leader !== null && e.data.leader !== a.id, 10_000, 'a new leader')
    expect([b.id, c.id]).toContain(next.data.leader)
    expect(next.data.term).toBeGreaterThan(snapshot.data.term)
    expect(stream.ended).toBe(false)
    stream.close()
  })

  it.concurrent('a resume older than the buffer gets reset; a client that never reads is dropped and the peer\'s memory stays bounded', async () => {
    const s = await startPeer({ env: { PMZ_EVENTS_BUFFER: '20', PMZ_EVENTS_KEY_RATE: '1000000', PMZ_EVENTS_QUEUE_KB: '256', PMZ_STORE_SYNC: 'os', PMZ_SWEEP_INTERVAL_S: '0.2' } })

    // Unknown topic: 400 with the envelope, before any stream opens.
    const bad = await openEvents(`${s.url}/events?topics=keys,bogus`)
    expect(bad.status).toBe(400)
    expect(bad.json).toEqual({ data: null, status: 'ko', msg: "unknown topic 'bogus'; known: peers, coordinator, keys, ring, jobs, schedules, batches" })
    expect((await openEvents(`${s.url}/events?lastEventId=x`)).status).toBe(400)

    const keys = await openEvents(`${s.url}/events?topics=keys`)
    await keys.until(e => e.event === 'hello', 5_000, 'hello')
    const put = async (key: string): Promise<void> => { expect((await http('PUT', `${s.url}/add_key/${key}`, 'v')).status).toBe(201) }
    await put('r/first')
    const first = await keys.until(e => e.data.key === '/r/first', 5_000, 'the first key')
    for (let i = 0; i < 30; i++) await put(`r/${i}`)
    const last = await keys.until(e => e.data.key === '/r/29', 5_000, 'the last key')
    // The 20 last are held: resuming 5 before the end replays 5; resuming at the first is too old.
    const near = await openEvents(`${s.url}/events?topics=keys`, { 'last-event-id': String((last.id as number) - 5) })
    await near.until(e => e.id === last.id, 5_000, 'the replay')
    expect(near.events.slice(1).map(e => e.data.key)).toEqual(['/r/25', '/r/26', '/r/27', '/r/28', '/r/29'])
    near.close()
    const old = await openEvents(`${s.url}/events?topics=keys`, { 'last-event-id': String(first.id) })
    await old.until(e => e.event === 'reset', 5_000, 'reset')
    expect(old.events.map(e => e.event)).toEqual(['hello', 'reset'])
    old.close()
    keys.close()

    // A raw client that asks for key events and never reads.
    const slow = connect(Number(new URL(s.url).port), '127.0.0.1')
    await new Promise<void>((resolve, reject) => { slow.once('connect', resolve).once('error', reject) })
    slow.pause()
    let slowClosed = false
    slow.on('close', () => { slowClosed = true })
    slow.on('error', () => {})
    slow.write('GET /events?topics=keys HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    const before = rss(s.pid)
    const dropped = (): boolean => s.lines.some(l => l.includes('event stream client too slow; closed'))
    // Keys of ~1000 bytes that expire at once, written over kept-alive connections: each makes an
    // `added` and (the sweeper's) `deleted` event, ~2.2 KB, until the stream is dropped (the
    // kernel takes a few MB of them first).
    const long = `${'a'.repeat(250)}/${'b'.repeat(250)}/${'c'.repeat(250)}/${'d'.repeat(220)}`
    const agent = new Agent({ connections: 16 })
    let ops = 0
    const deadline = Date.now() + 10_000
    await pool(Array.from({ length: 16 }, (_, w) => w), 16, async w => {
      for (let i = 0; !dropped() && Date.now() < deadline; i++) {
        const key = `slow/${long}/${w}-${i}`
        await (await request(`${s.url}/add_key/${key}?temporal=0`, { method: 'PUT', body: 'v', dispatcher: agent })).body.text()
        ops++
      }
    })
    await agent.close()
    expect(dropped(), `the slow stream dropped after ${ops} writes`).toBe(true)
    const after = rss(s.pid)
    console.log(`slow client dropped after ${ops} writes; RSS ${Math.round(before / 2 ** 20)} -> ${Math.round(after / 2 ** 20)} MiB`)
    expect(after - before).toBeLessThan(96 * 2 ** 20)
    // What the socket held still arrives, then the end: the peer closed it.
    slow.resume()
    await waitFor(() => slowClosed, 10_000, 'the slow client to see the stream closed')
    // The peer still serves streams.
    const again = await openEvents(`${s.url}/events?topics=coordinator`)
    await again.until(e => e.event === 'coordinator', 5_000, 'a new stream')
    again.close()
  })
})
