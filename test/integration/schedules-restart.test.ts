// Schedules through a full cluster restart on real peers (issue 15): three
// `every: 1 second` schedules, one per catch-up policy, on 3 peers (each a
// coordinator voter and a worker); all three peers stop, stay down for some
// ticks and start again on their data dirs. The seed records the (schedule,
// tick) each run fired for (ctx.schedule). The schedules survive; the ticks
// that came while no coordinator existed fire as the policy says: none of
// them (none), one (last), the newest maxCatchUp (all); every later tick fires.
// Needs `npm run build` (bin/pmz runs dist/).
import { randomUUID } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, killPeer, restartPeer, type Peer } from '../helpers/peer.js'
import { duplicates, firingsOf, leaderOf, missing, readRuns, schedule, startScheduleCluster, type Firings, type Run } from '../helpers/schedules.js'

/** Ticks the cluster stays down for, at least (more than maxCatchUp, so that its bound shows). */
const DOWN_TICKS = 5
const MAX_CATCH_UP = 3
/** Around the election, a tick may have come just before or just after the new leader decided: ms either side left out of the exact checks. */
const EDGE_MS = 25

/** When the first of `peers` logged that a leader was elected (the leader logs it as it takes over). */
function electedAt (peers: Peer[], since: number): number {
  const times = peers.flatMap(p => p.lines.filter(l => l.includes('"coordinator changed"')).map(l => JSON.parse(l) as { time: number, leader: string | null }))
    .filter(e => e.leader !== null && e.time >= since).map(e => e.time)
  return Math.min(...times)
}

describe('schedules through a full cluster restart (issue 15)', () => {
  afterAll(cleanupPeers)

  it('keeps the schedules and catches up per policy: none, one (last), the newest maxCatchUp (all); later ticks all fire', async () => {
    const t0 = Date.now()
    const c = await startScheduleCluster(`sr-${randomUUID().slice(0, 8)}`)
    const overlap = 'allow' // only the catch-up policy decides what the restart loses
    const none = await schedule(c.peers[0], c.evidence, { every: '1 second', catchUp: 'none', overlap })
    const last = await schedule(c.peers[1], c.evidence, { every: '1 second', catchUp: 'last', overlap })
    const all = await schedule(c.peers[2], c.evidence, { every: '1 second', catchUp: 'all', maxCatchUp: MAX_CATCH_UP, overlap })
    const ids = [none, last, all]
    const runs = (): Run[] => readRuns(c.evidence)
    const ranSince = (s: number, since: number, n: number): boolean => runs().filter(r => r.s === s && r.tick > since).length >= n
    await waitFor(() => ids.every(s => ranSince(s, 0, 2)), 10_000, 'the schedules to fire twice')

    // Stop all three (a clean stop), stay down for DOWN_TICKS ticks, start them again on their data dirs.
    const stopFrom = Date.now()
    await Promise.all(c.peers.map(async p => await killPeer(p, 'SIGTERM')))
    const downAt = Date.now()
    await new Promise(resolve => setTimeout(resolve, DOWN_TICKS * 1000)) // the downtime is what is tested
    const restartAt = Date.now()
    const first = await restartPeer(c.peers[0])
    const rest = await Promise.all([1, 2].map(async i => await restartPeer(c.peers[i], { args: [...c.flags(i), '--join', first.mesh] })))
    const peers = [first, ...rest]
    await waitFor(async () => await leaderOf(peers) !== undefined, 20_000, 'a coordinator after the restart')
    const elected = electedAt(peers, restartAt)
    await waitFor(() => ids.every(s => ranSince(s, elected, 3)), 15_000, 'the schedules to fire after the restart')

    for (const id of ids) expect((await http('POST', `${peers[0].url}/cancel_job/${id}`)).json).toMatchObject({ status: 'ok' })
    const cancelledAt = Date.now()
    const final = runs()
    expect(final.filter(r => r.tick > cancelledAt)).toEqual([])

    const [fn, fl, fa] = ids.map(s => firingsOf(final, s))
    const report = `down ${downAt}..${restartAt}, elected ${elected}; runs ${JSON.stringify(final)}`
    expect(ids.flatMap(s => duplicates(firingsOf(final, s), s)), report).toEqual([])
    const ticks = (f: Firings): number[] => [...f.jobs.keys()].sort((x, y) => x - y)
    const phase = (f: Firings): number => ticks(f)[0] % 1000
    /** The schedule's first tick after `from`. */
    const after = (f: Firings, from: number): number => from - ((from - phase(f)) % 1000) + 1000
    /** The schedule's ticks in (from, to), oldest first. */
    const between = (f: Firings, from: number, to: number): number[] => {
      const out: number[] = []
      for (let t = after(f, from); t < to; t += 1000) out.push(t)
      return out
    }
    const fired = (f: Firings, from: number, to: number): number[] => ticks(f).filter(t => t > from && t < to)
    for (const [name, f] of [['none', fn], ['last', fl], ['all', fa]] as const) {
      // Every tick before the stop and after the election fired, whatever the policy.
      expect(missing(f, ticks(f)[0], stopFrom - 200), `${name} before the stop; ${report}`).toEqual([])
      expect(missing(f, after(f, elected + EDGE_MS), ticks(f).at(-1) as number), `${name} after the election; ${report}`).toEqual([])
    }
    // The ticks that certainly came with no coordinator: after the last peer stopped, before the election.
    const missed = (f: Firings): number[] => between(f, downAt, elected - EDGE_MS)
    const edge = (f: Firings): boolean => between(f, elected - EDGE_MS - 1, elected + EDGE_MS + 1).length > 0
    expect(missed(fn).length, report).toBeGreaterThanOrEqual(DOWN_TICKS)
    expect(fired(fn, downAt, elected - EDGE_MS), `none fires none of the missed ticks; ${report}`).toEqual([])
    // last: one firing, for the newest of them (or for a tick at the election, which then stands for them).
    const lastCaught = fired(fl, downAt, elected + EDGE_MS)
    expect(lastCaught.length, `last fires one for the missed ticks; ${report}`).toBe(edge(fl) && lastCaught.length === 2 ? 2 : 1)
    if (!edge(fl)) expect(lastCaught, report).toEqual([missed(fl).at(-1)])
    // all: the newest maxCatchUp of them (one fewer when a tick at the election took a place).
    const allCaught = fired(fa, downAt, elected - EDGE_MS)
    const newest = missed(fa).slice(-MAX_CATCH_UP)
    if (edge(fa)) expect([newest, newest.slice(1)], report).toContainEqual(allCaught)
    else expect(allCaught, `all fires the newest ${MAX_CATCH_UP} missed ticks; ${report}`).toEqual(newest)
    console.log(`schedules restart: down ${restartAt - downAt} ms, leader ${elected - restartAt} ms after the restart began; ` +
      `missed ${missed(fn).length} ticks: none fired ${fired(fn, downAt, elected).length}, last ${lastCaught.length}, all ${allCaught.length}; ${Date.now() - t0} ms in all`)
  }, 60_000)
})
