import { randomUUID } from 'node:crypto'
import { runCheck, type CheckSummary, type Http } from '../../src/cli/check/workload.js'
import { converged } from './cluster.js'
import { http } from './http.js'
import { createNetnsLab, netnsUnavailable, type NetnsLab } from './netns.js'
import { killPeer, restartPeer, startPeer, type Peer } from './peer.js'

/**
 * The Jepsen-style check of a real cluster: `pmz check`'s workload
 * (src/cli/check: concurrent add_key of one key through several gateways,
 * reads, deletes and re-creates, every answer checked against what the key
 * may hold) while a nemesis `kill -9`s peers and restarts them and, where
 * network namespaces can be made, cuts one peer off from the others for a
 * while (the client still reaches it, so its refusals are checked too).
 * Never more than `maxDown` peers are faulty at once.
 */
export interface ChaosOptions {
  peers: number
  durationMs: number
  /** @default 3 */
  replicas?: number
  /** @default 2 */
  writeQuorum?: number
  /** Keys worked on at once. @default 4 */
  writers?: number
  /** Concurrent add_key of one key per round. @default 3 */
  contenders?: number
  /** Peers faulty at once, at most. @default replicas - writeQuorum */
  maxDown?: number
  /** Time between faults, ms, drawn from [min, max]. @default [2000, 5000] */
  upMs?: [number, number]
  /** Time a fault lasts, ms, drawn from [min, max]. @default [500, 4000] */
  downMs?: [number, number]
  /** Partitions in network namespaces besides kills (skipped, saying why, where they cannot be made). @default false */
  partitions?: boolean
  /** How long the final check may wait for the cluster to settle, ms. @default 60000 */
  settleMs?: number
  log?: (line: string) => void
}

export interface ChaosSummary extends CheckSummary {
  peers: number
  durationMs: number
  kills: number
  restarts: number
  partitions: number
  /** Why partitions were not made, when asked for and impossible. */
  partitionsSkipped?: string
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const between = ([min, max]: [number, number]): number => min + Math.random() * (max - min)
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]

const client: Http = async (method, url, body) => {
  const res = await http(method, url, body, body === undefined ? {} : { 'content-length': String(body.length) })
  return { status: res.status, body: res.body }
}

export async function runChaos (options: ChaosOptions): Promise<ChaosSummary> {
  const log = options.log ?? ((line: string) => { console.log(line) })
  const replicas = options.replicas ?? 3
  const writeQuorum = options.writeQuorum ?? 2
  const maxDown = options.maxDown ?? Math.max(0, replicas - writeQuorum)
  const cluster = `chaos-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', String(replicas), '--write-quorum', String(writeQuorum)]
  let lab: NetnsLab | undefined
  let partitionsSkipped: string | undefined
  if (options.partitions === true) {
    partitionsSkipped = netnsUnavailable()
    if (partitionsSkipped === undefined) lab = createNetnsLab(options.peers, { hostLeg: true })
    else log(`chaos: partitions skipped: ${partitionsSkipped}`)
  }
  const placed = (i: number): { host?: string, wrap?: string[] } => lab === undefined ? {} : { host: lab.namespaces[i].ip, wrap: ['ip', 'netns', 'exec', lab.namespaces[i].name] }
  const counts = { kills: 0, restarts: 0, partitions: 0 }
  try {
    const peers: Peer[] = [await startPeer({ cluster, args, ...placed(0) })]
    peers.push(...await Promise.all(Array.from({ length: options.peers - 1 }, async (_, i) => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh], ...placed(i + 1) }))))
    const up = new Set<number>(peers.map((_, i) => i))
    await converged(peers, peers.map(p => p.id), 30_000)
    log(`chaos: ${options.peers} peers up (N=${replicas}, W=${writeQuorum}${lab !== undefined ? ', in network namespaces' : ''}), running ${options.durationMs} ms`)
    const deadline = Date.now() + options.durationMs

    const restart = async (i: number): Promise<void> => {
      const joins = [...up].map(j => peers[j].mesh)
      peers[i] = await restartPeer(peers[i], { args: joins.length > 0 ? [...args, '--join', joins.join(',')] : args })
      up.add(i)
      counts.restarts++
    }

    const nemesis = (async () => {
      // Faults alternate, a partition first where namespaces exist.
      for (let step = 0; Date.now() < deadline; step++) {
        await sleep(between(options.upMs ?? [2000, 5000]))
        if (Date.now() >= deadline || maxDown === 0 || up.size < 2) break
        const at = Math.round((Date.now() - deadline + options.durationMs) / 1000)
        if (lab !== undefined && step % 2 === 0) {
          const i = pick([...up])
          lab.isolate(i, true)
          counts.partitions++
          log(`chaos: ${peers[i].id} cut off from the others at +${at} s`)
          await sleep(between(options.downMs ?? [500, 4000]))
          lab.isolate(i, false)
          continue
        }
        const victims: number[] = []
        const downNow = Math.max(1, Math.ceil(Math.random() * maxDown))
        for (let k = 0; k < downNow && up.size > 1; k++) {
          const i = pick([...up])
          up.delete(i)
          victims.push(i)
        }
        await Promise.all(victims.map(async i => { await killPeer(peers[i]) }))
        counts.kills += victims.length
        log(`chaos: kill -9 ${victims.map(i => peers[i].id).join(', ')} at +${at} s`)
        await sleep(between(options.downMs ?? [500, 4000]))
        for (const i of victims) await restart(i)
      }
    })()

    // The workload ends with its final check, which needs every peer back: it waits for the nemesis first.
    let nemesisDone = false
    void nemesis.finally(() => { nemesisDone = true })
    const s = await runCheck({
      gateways: () => nemesisDone ? peers.map(p => p.url) : [...up].map(i => peers[i].url),
      http: client,
      durationMs: options.durationMs,
      workers: options.writers ?? 4,
      contenders: options.contenders ?? 3,
      settleMs: options.settleMs ?? 60_000,
      log,
      beforeFinal: async () => {
        await nemesis
        for (let i = 0; i < peers.length; i++) if (!up.has(i)) await restart(i)
        await converged(peers, peers.map(p => p.id), 30_000)
      }
    })
    const summary: ChaosSummary = { ...s, peers: options.peers, durationMs: options.durationMs, ...counts, ...(partitionsSkipped !== undefined ? { partitionsSkipped } : {}) }
    log(`chaos summary: ${JSON.stringify({ ...summary, violations: summary.violations.length })}`)
    for (const v of summary.violations.slice(0, 20)) log(`  ${v.key}: ${v.what}`)
    return summary
  } finally {
    lab?.cleanup()
  }
}
