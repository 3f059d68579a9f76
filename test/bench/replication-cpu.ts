import { randomUUID } from 'node:crypto'
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { waitFor } from '../helpers/http.js'
import { converged, ringView as ring } from '../helpers/cluster.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'
import { cpuSeconds, fmt, load, startScript, stopProcess, type LoadResult } from './lib.js'
import { lmdbAlone } from './storage.js'

const OPS = 3000
const SEQ_OPS = 450
const ROUNDS = 3
const WARM_OPS = 1000
const C = 16
const N = 3
const VALUE = Buffer.alloc(1024, 'x')
const BIG = Buffer.alloc(4 * 1024 * 1024, 'y')
const BIG_VALUES = 48
const BIG_C = 4
const GROUP_C = 5
const MAXSIZE = ['--maxsize', '2048']

/** A 3-peer mesh (N=3, W=2) of volume peers and a fourth peer that is only a gateway (never an owner). */
export async function startMesh (): Promise<{ a: Peer, gw: Peer, all: Peer[] }> {
  const meshArgs = ['--replicas', String(N), '--write-quorum', '2', ...MAXSIZE]
  const cluster = `bench-${randomUUID().slice(0, 8)}`
  const a = await startPeer({ cluster, args: meshArgs })
  const [b, c2] = await Promise.all([1, 2].map(async () => await startPeer({ cluster, args: [...meshArgs, '--join', a.mesh] })))
  const gw = await startPeer({ cluster, args: [...meshArgs, '--join', a.mesh, '--role', 'gateway,coordinator'] })
  await converged([a, b, c2, gw], [a, b, c2, gw].map(p => p.id), 20_000)
  await waitFor(async () => (await ring(gw))?.volumePeers?.length === 3, 20_000, 'gateway to see 3 volume peers')
  return { a, gw, all: [a, b, c2, gw] }
}

/** Where requests go (`url`), whose CPU they are charged (`pids`), and what those processes burn idle (cores). */
interface Setup { name: string, url: string, pids: number[], idleCores: number }
type Measured = LoadResult & { cpuUs: number, idleUs: number }
type Op = 'PUT' | 'GET' | 'DELETE'
const VERB: Record<Op, string> = { PUT: 'add_key', GET: 'get_key', DELETE: 'delete_key' }

const cpuOf = (pids: number[]): number => pids.reduce((t, pid) => t + cpuSeconds(pid), 0)

/** Cores the processes use while nobody sends them anything: a rate over `ms`, to show how much of a slow run's CPU is background. */
async function idleCores (pids: number[], ms = 2000): Promise<number> {
  const before = cpuOf(pids)
  const t0 = performance.now()
  await delay(ms)
  return (cpuOf(pids) - before) / ((performance.now() - t0) / 1000)
}

/**
 * Waits (at most 15 s) until the setup's processes are back near their idle
 * rate, so that a run is not charged for the background work (replication
 * tails, anti-entropy) the previous run left behind.
 */
async function quiet (s: Setup): Promise<void> {
  const deadline = performance.now() + 15_000
  while (performance.now() < deadline) {
    if (await idleCores(s.pids, 1000) <= Math.max(2 * s.idleCores, s.idleCores + 0.02)) return
  }
  console.log(`WARNING ${s.name}: still above twice its idle CPU after 15 s`)
}

interface Part { r: LoadResult, cpu: number, seconds: number, amount: number }

/** One load on one setup, and the CPU seconds every process of the setup spent during it. */
async function measureOnce (s: Setup, op: Op, opts: { amount: number, connections: number, tag: string, body?: Buffer }): Promise<Part> {
  if (s.idleCores > 0) await quiet(s)
  const before = cpuOf(s.pids)
  const t0 = performance.now()
  const r = await load(s.url, { method: op, amount: opts.amount, connections: opts.connections, body: op === 'PUT' ? (opts.body ?? VALUE) : undefined, path: i => `/${VERB[op]}/bench/${opts.tag}/k${i}` })
  const seconds = (performance.now() - t0) / 1000
  const cpu = cpuOf(s.pids) - before
  if (r.errors + r.non2xx > 0) console.log(`WARNING ${s.name} ${op} ${opts.tag}: ${r.errors} errors, ${r.non2xx} non-2xx`)
  return { r, cpu, seconds, amount: opts.amount }
}

const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]

/** The parts of one setup's rounds as one figure: totals for rates and CPU, median p50/p99 of the rounds. */
function combine (parts: Part[], idle: number): Measured {
  const amount = parts.reduce((t, p) => t + p.amount, 0)
  const seconds = parts.reduce((t, p) => t + p.seconds, 0)
  return {
    rps: amount / seconds,
    p50: median(parts.map(p => p.r.p50)),
    p99: median(parts.map(p => p.r.p99)),
    errors: parts.reduce((t, p) => t + p.r.errors, 0),
    non2xx: parts.reduce((t, p) => t + p.r.non2xx, 0),
    cpuUs: parts.reduce((t, p) => t + p.cpu, 0) / amount * 1e6,
    idleUs: idle * seconds / amount * 1e6
  }
}

/**
 * `amount` requests on each setup, in ROUNDS rounds that take the setups in
 * turn, so that a change in the machine's load lands on all of them alike.
 * Round r of a tag uses the same keys whatever the op (GET and DELETE find what PUT wrote).
 */
async function compare (setups: Setup[], op: Op, opts: { amount: number, connections: number, tag: string, body?: Buffer }): Promise<Measured[]> {
  const parts = setups.map((): Part[] => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, s] of setups.entries()) {
      parts[i].push(await measureOnce(s, op, { ...opts, amount: opts.amount / ROUNDS, tag: `${opts.tag}-${s.name.replace(/\W+/g, '-')}-r${round}` }))
    }
  }
  return parts.map((p, i) => combine(p, setups[i].idleCores))
}

/** Median time of a 4 KB write and fdatasync in a temporary file (the disk a store commit waits for), µs. */
function flushUs (): number {
  const path = join(tempDir(), 'flush-probe')
  const fd = openSync(path, 'w')
  const page = Buffer.alloc(4096, 1)
  const times: number[] = []
  try {
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now()
      writeSync(fd, page, 0, page.length, (i % 16) * page.length)
      fdatasyncSync(fd)
      times.push((performance.now() - t0) * 1000)
    }
  } finally {
    closeSync(fd)
  }
  return median(times)
}

/** One line per target: `target: <what> <=3.0x: 2.71x met`. */
class Targets {
  private readonly lines: string[] = []
  ratio (what: string, value: number, bound: '<=' | '>=', limit: number): string {
    const met = bound === '<=' ? value <= limit : value >= limit
    this.lines.push(`target: ${what} ${bound}${fmt(limit, 1)}x: ${fmt(value, 2)}x ${met ? 'met' : 'NOT met'}`)
    return `${bound}${fmt(limit, 1)}x`
  }

  print (): void {
    console.log(this.lines.join('\n'))
    const missed = this.lines.filter(l => l.endsWith('NOT met')).length
    console.log(`${this.lines.length - missed} of ${this.lines.length} targets met`)
  }
}

/**
 * Issue 19's CPU-per-request ratios, every reference measured in this run:
 * 1 KB PUT, GET, DELETE at c=16 and sequentially, one peer vs a 3-peer mesh
 * (N=3, W=2) via an owner and via a non-owner gateway; 4 MB values; one peer
 * (sync = os) vs a bare node:http + Map server; group commit (sync = flush)
 * vs the store alone.
 */
export async function replicationSmallBench (): Promise<void> {
  const bare = await startScript(join(import.meta.dirname, 'bare-server.mjs'))
  const framework = await startScript(join(import.meta.dirname, 'fastify-server.mjs'))
  try {
    console.log(`\n== replication: 1 KB PUT, GET, DELETE, one peer vs 3-peer mesh (N=${N}, W=2), CPU per request of every pmz process ==`)
    const single = await startPeer({ args: MAXSIZE })
    const osPeer = await startPeer({ args: MAXSIZE, env: { PMZ_STORE_SYNC: 'os' } })
    const { a, gw, all } = await startMesh()
    const meshPids = all.map(p => p.pid)
    const one: Setup = { name: 'one peer', url: single.url, pids: [single.pid], idleCores: 0 }
    const owner: Setup = { name: 'mesh via owner', url: a.url, pids: meshPids, idleCores: 0 }
    const nonOwner: Setup = { name: 'mesh via non-owner gw', url: gw.url, pids: meshPids, idleCores: 0 }
    const os: Setup = { name: 'one peer sync=os', url: osPeer.url, pids: [osPeer.pid], idleCores: 0 }
    const ref: Setup = { name: 'bare node:http + Map', url: bare.url, pids: [bare.proc.pid as number], idleCores: 0 }
    const fastify: Setup = { name: 'fastify + Map', url: framework.url, pids: [framework.proc.pid as number], idleCores: 0 }
    const setups = [one, owner, nonOwner, os, ref, fastify]
    // Warm-up: the same mix on every target first, so that the figures compare JIT-compiled code.
    for (const s of setups) {
      for (const op of ['PUT', 'GET', 'DELETE'] as const) await measureOnce(s, op, { amount: WARM_OPS, connections: C, tag: `warm-${setups.indexOf(s)}` })
    }
    // Idle rate: the quietest of three 2 s windows, after the warm-up's background work had time to end.
    const floor = async (pids: number[]): Promise<number> => Math.min(...await Promise.all([0, 1, 2].map(async i => await delay(2000 * i).then(async () => await idleCores(pids)))))
    ;[one.idleCores, os.idleCores, ref.idleCores, fastify.idleCores, owner.idleCores] = await Promise.all([one, os, ref, fastify, owner].map(async s => await floor(s.pids)))
    nonOwner.idleCores = owner.idleCores
    console.log(`idle CPU (cores): one peer ${fmt(one.idleCores, 4)}, one peer sync=os ${fmt(os.idleCores, 4)}, bare server ${fmt(ref.idleCores, 4)}, the 4 mesh peers ${fmt(owner.idleCores, 4)}`)

    const t = new Targets()
    const rows: Array<Record<string, string>> = []
    const row = (op: string, c: number, s: Setup, r: Measured, base: Measured, target = ''): void => {
      rows.push({
        op, c: String(c), setup: s.name,
        'req/s': fmt(r.rps), 'p50 ms': fmt(r.p50, 2), 'p99 ms': fmt(r.p99, 2),
        'CPU us/req': fmt(r.cpuUs), 'of which idle': fmt(r.idleUs),
        'CPU x ref': fmt(r.cpuUs / base.cpuUs, 2), target, 'net of idle x ref': fmt((r.cpuUs - r.idleUs) / (base.cpuUs - base.idleUs), 2), 'err/non2xx': `${r.errors}/${r.non2xx}`
      })
    }

    // 1 KB through the mesh, at c=16 and sequentially. Ops in order, so that GET and DELETE find the keys PUT wrote.
    for (const [c, amount] of [[C, OPS], [1, SEQ_OPS]] as const) {
      for (const op of ['PUT', 'GET', 'DELETE'] as const) {
        const [base, viaOwner, viaGw] = await compare([one, owner, nonOwner], op, { amount, connections: c, tag: `c${c}` })
        const ownerLimit = op === 'GET' ? 1.3 : 3.0
        const gwLimit = op === 'GET' ? 2.5 : op === 'PUT' ? 3.5 : undefined
        row(op, c, one, base, base, 'ref')
        row(op, c, owner, viaOwner, base, t.ratio(`${op} c=${c} CPU/req mesh via owner / one peer`, viaOwner.cpuUs / base.cpuUs, '<=', ownerLimit))
        row(op, c, nonOwner, viaGw, base, gwLimit === undefined ? '' : t.ratio(`${op} c=${c} CPU/req mesh via non-owner / one peer`, viaGw.cpuUs / base.cpuUs, '<=', gwLimit))
      }
    }
    console.table(rows)

    // 4 MB values: MB/s and CPU per byte, one peer vs through the mesh.
    const big: Array<Record<string, string>> = []
    for (const s of [one, owner, nonOwner]) await measureOnce(s, 'PUT', { amount: BIG_C, connections: BIG_C, tag: `bigwarm-${setups.indexOf(s)}`, body: BIG })
    const bigRuns = await compare([one, owner, nonOwner], 'PUT', { amount: BIG_VALUES, connections: BIG_C, tag: 'big', body: BIG })
    const mb = BIG.length / 2 ** 20
    const [bigOne, bigOwner] = bigRuns
    for (const [i, s] of [one, owner, nonOwner].entries()) {
      const r = bigRuns[i]
      big.push({
        op: `PUT ${BIG_VALUES} x 4 MB at c=${BIG_C}`, setup: s.name,
        'MB/s': fmt(r.rps * mb), 'MB/s x one peer': fmt(r.rps / bigOne.rps, 2),
        'CPU ms/value': fmt(r.cpuUs / 1000, 1), 'CPU us/MB': fmt(r.cpuUs / mb), 'CPU/byte x one peer': fmt(r.cpuUs / bigOne.cpuUs, 2),
        target: s === owner ? 'MB/s >=0.5x, CPU/byte <=3.5x' : '', 'err/non2xx': `${r.errors}/${r.non2xx}`
      })
    }
    t.ratio('4 MB PUT MB/s mesh via owner / one peer', bigOwner.rps / bigOne.rps, '>=', 0.5)
    t.ratio('4 MB PUT CPU/byte mesh via owner / one peer', bigOwner.cpuUs / bigOne.cpuUs, '<=', 3.5)
    console.table(big)

    // One peer with sync = os against the bare server, and group commit (sync = flush) against the store alone.
    // These three sat idle through the mesh runs: warmed up again right before, as the others were before theirs.
    for (const s of [ref, fastify, os]) {
      for (const op of ['PUT', 'GET'] as const) await measureOnce(s, op, { amount: WARM_OPS, connections: C, tag: `rewarm-${setups.indexOf(s)}` })
    }
    const vsBare: Array<Record<string, string>> = []
    for (const [op, limit] of [['PUT', 1.6], ['GET', 1.4]] as const) {
      const [rb, rf, ro] = await compare([ref, fastify, os], op, { amount: OPS, connections: C, tag: 'vs-bare' })
      const target = t.ratio(`${op} c=${C} CPU/req one peer (sync=os) / bare node:http`, ro.cpuUs / rb.cpuUs, '<=', limit)
      for (const [s, r] of [[ref, rb], [fastify, rf], [os, ro]] as const) {
        vsBare.push({ op, c: String(C), setup: s.name, 'req/s': fmt(r.rps), 'CPU us/req': fmt(r.cpuUs), 'CPU x bare': fmt(r.cpuUs / rb.cpuUs, 2), target: s === os ? target : s === fastify ? 'framework' : 'ref', 'err/non2xx': `${r.errors}/${r.non2xx}` })
      }
    }
    // Group commit: rounds of the one peer at c=5 and the store alone in turn, like compare().
    const gcParts: Part[] = []
    let aloneSeconds = 0
    for (let round = 0; round < ROUNDS; round++) {
      gcParts.push(await measureOnce(one, 'PUT', { amount: OPS / ROUNDS, connections: GROUP_C, tag: `group-r${round}` }))
      aloneSeconds += OPS / ROUNDS / await lmdbAlone('flush', GROUP_C, OPS / ROUNDS)
    }
    const gc = combine(gcParts, one.idleCores)
    const alone = OPS / aloneSeconds
    const gcTarget = t.ratio(`PUT c=${GROUP_C} req/s one peer (sync=flush) / store alone`, gc.rps / alone, '>=', 0.9)
    vsBare.push({ op: 'PUT', c: String(GROUP_C), setup: 'store alone (Tables, flush)', 'req/s': fmt(alone), 'CPU us/req': '', 'CPU x bare': '', target: 'ref', 'err/non2xx': '' })
    vsBare.push({ op: 'PUT', c: String(GROUP_C), setup: 'one peer sync=flush', 'req/s': fmt(gc.rps), 'CPU us/req': fmt(gc.cpuUs), 'CPU x bare': '', target: `req/s ${gcTarget}`, 'err/non2xx': `${gc.errors}/${gc.non2xx}` })
    console.table(vsBare)

    console.log(`CPU us/req: user+system time of every process of the setup (/proc/<pid>/stat, 10 ms ticks) per request, each run started once the processes are back near their idle rate; "of which idle" is what they burn unloaded over the run's wall time (targets are on the whole figure). ${availableParallelism()} cores for all of them and the load generator.`)
    console.log(`mesh: 3 volume peers, N=${N}, W=2 (each owns every key), plus a gateway-only peer; store sync = flush except "sync=os". Sequential runs: ${SEQ_OPS} requests, c=16 runs: ${OPS}, each in ${ROUNDS} rounds taking the setups in turn (p50/p99: median of the rounds).`)
    console.log('store alone: the same 1 KB records committed in the bench process through the store\'s own Tables, no HTTP, same fsync policy.')
    console.log(`fastify + Map: bare-server.mjs on the gateway's framework, to show the framework's own share. A 4 KB write + fdatasync on this disk takes ${fmt(flushUs(), 0)} us (median of 200): group commit hides HTTP only where a flush outlasts handling the requests that share it.`)
    t.print()
  } finally {
    stopProcess(bare.proc)
    stopProcess(framework.proc)
    await cleanupPeers()
  }
}
