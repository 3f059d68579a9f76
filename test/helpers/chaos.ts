import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { converged, pool } from './cluster.js'
import { http } from './http.js'
import { killPeer, restartPeer, startPeer, type Peer } from './peer.js'

/**
 * Lost-acknowledged-write checker. Drives a real cluster: writers PUT random
 * keys through random live peers and record every 201 (key -> sha256), some
 * acknowledged keys are deleted (an acknowledged delete must stay 404), while
 * a killer `kill -9`s a random peer and restarts it, never more than
 * `maxDown` at once. At the end every peer is restarted and, until a settle
 * deadline, every acknowledged write must read back through every peer with
 * its acknowledged sha256 and every acknowledged delete must be 404.
 */
export interface ChaosOptions {
  peers: number
  durationMs: number
  /** @default 3 */
  replicas?: number
  /** @default 2 */
  writeQuorum?: number
  /** Concurrent writers. @default 4 */
  writers?: number
  /** Peers down at once, at most (N - W keeps a write quorum possible). @default replicas - writeQuorum */
  maxDown?: number
  /** Time a peer stays up between kills, ms, drawn from [min, max]. @default [2000, 5000] */
  upMs?: [number, number]
  /** Time a killed peer stays down, ms, drawn from [min, max]. @default [500, 4000] */
  downMs?: [number, number]
  /** Share of operations that delete an acknowledged key. @default 0.1 */
  deleteShare?: number
  /** How long the final check may poll for the cluster to settle, ms. @default 60000 */
  settleMs?: number
  /** Where progress lines go. @default console.log */
  log?: (line: string) => void
}

export interface ChaosSummary {
  peers: number
  durationMs: number
  writesAcked: number
  /** 503 and other refusals: the write was not acknowledged (and need not be there). */
  writesFailed: number
  /** The connection broke (the gateway died): outcome unknown, not checked. */
  writesUnknown: number
  deletesAcked: number
  deletesFailed: number
  kills: number
  restarts: number
  /** Acknowledged writes checked at the end (per peer) and deletes checked. */
  checked: number
  /** Acknowledged writes not readable with their content through some peer at the settle deadline. */
  lost: string[]
  /** Acknowledged deletes readable again. */
  resurrected: string[]
  /** Time from the last restart until every check passed, ms (-1 when it never did). */
  settledAfterMs: number
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))
const between = ([min, max]: [number, number]): number => min + Math.random() * (max - min)
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

export async function runChaos (options: ChaosOptions): Promise<ChaosSummary> {
  const log = options.log ?? ((line: string) => { console.log(line) })
  const replicas = options.replicas ?? 3
  const writeQuorum = options.writeQuorum ?? 2
  const maxDown = options.maxDown ?? Math.max(0, replicas - writeQuorum)
  const upMs = options.upMs ?? [2000, 5000]
  const downMs = options.downMs ?? [500, 4000]
  const deleteShare = options.deleteShare ?? 0.1
  const cluster = `chaos-${randomUUID().slice(0, 8)}`
  const args = ['--replicas', String(replicas), '--write-quorum', String(writeQuorum)]
  const s: ChaosSummary = {
    peers: options.peers, durationMs: options.durationMs, writesAcked: 0, writesFailed: 0, writesUnknown: 0,
    deletesAcked: 0, deletesFailed: 0, kills: 0, restarts: 0, checked: 0, lost: [], resurrected: [], settledAfterMs: -1
  }

  const peers: Peer[] = [await startPeer({ cluster, args })]
  peers.push(...await Promise.all(Array.from({ length: options.peers - 1 }, async () => await startPeer({ cluster, args: [...args, '--join', peers[0].mesh] }))))
  const up = new Set<number>(peers.map((_, i) => i))
  await converged(peers, peers.map(p => p.id), 20_000)
  log(`chaos: ${options.peers} peers up (N=${replicas}, W=${writeQuorum}), running ${options.durationMs} ms`)

  const acked = new Map<string, string>() // key -> sha256 of the acknowledged content
  const deleted = new Set<string>()
  const busy = new Set<string>() // keys with a delete in flight
  const deadline = Date.now() + options.durationMs

  const restart = async (i: number): Promise<void> => {
    const joins = [...up].map(j => peers[j].mesh)
    peers[i] = await restartPeer(peers[i], { args: joins.length > 0 ? [...args, '--join', joins.join(',')] : args })
    up.add(i)
    s.restarts++
  }

  const killer = (async () => {
    while (Date.now() < deadline) {
      await sleep(between(upMs))
      if (Date.now() >= deadline || maxDown === 0) break
      const victims: number[] = []
      const downNow = Math.max(1, Math.ceil(Math.random() * maxDown))
      for (let k = 0; k < downNow && up.size > 1; k++) {
        const i = pick([...up])
        up.delete(i)
        victims.push(i)
      }
      await Promise.all(victims.map(async i => { await killPeer(peers[i]) }))
      s.kills += victims.length
      log(`chaos: kill -9 ${victims.map(i => peers[i].id).join(', ')} at +${Math.round((Date.now() - deadline + options.durationMs) / 1000)} s`)
      await sleep(between(downMs))
      for (const i of victims) await restart(i)
    }
  })()

  const writer = async (w: number): Promise<void> => {
    let n = 0
    while (Date.now() < deadline) {
      const live = [...up]
      if (live.length === 0) { await sleep(50); continue }
      const via = peers[pick(live)]
      const candidates = Math.random() < deleteShare ? [...acked.keys()].filter(k => !busy.has(k)) : []
      if (candidates.length > 0) {
        const key = pick(candidates)
        busy.add(key)
        try {
          const res = await http('DELETE', `${via.url}/delete_key/${key}`)
          if (res.status === 200) {
            acked.delete(key)
            deleted.add(key)
            s.deletesAcked++
          } else if (res.status === 404) {
            s.lost.push(`${key}: delete through ${via.id} found no value`)
            acked.delete(key)
          } else {
            // Not acknowledged: the delete may or may not have landed; the key is checked no more.
            acked.delete(key)
            s.deletesFailed++
          }
        } catch {
          acked.delete(key)
          s.deletesFailed++
        } finally {
          busy.delete(key)
        }
        continue
      }
      const key = `chaos/${w}/${n++}-${randomUUID().slice(0, 8)}`
      const value = randomBytes(Math.random() < 0.02 ? 300 * 1024 + Math.floor(Math.random() * 1024) : 64 + Math.floor(Math.random() * 4096))
      try {
        const res = await http('PUT', `${via.url}/add_key/${key}`, value, { 'content-length': String(value.length) })
        if (res.status === 201) {
          acked.set(key, sha256(value))
          s.writesAcked++
        } else {
          s.writesFailed++
        }
      } catch {
        s.writesUnknown++
      }
    }
  }

  await Promise.all([killer, ...Array.from({ length: options.writers ?? 4 }, async (_, w) => await writer(w))])
  for (let i = 0; i < peers.length; i++) if (!up.has(i)) await restart(i)
  await converged(peers, peers.map(p => p.id), 30_000)
  const restartedAt = Date.now()
  log(`chaos: writes ${s.writesAcked} acked, ${s.writesFailed} failed, ${s.writesUnknown} unknown; deletes ${s.deletesAcked} acked; ${s.kills} kills; checking`)

  const settleDeadline = restartedAt + (options.settleMs ?? 60_000)
  const lostBefore = [...s.lost]
  for (;;) {
    const lost: string[] = []
    const resurrected: string[] = []
    let checked = 0
    const checks: Array<{ peer: Peer, key: string, sha: string | undefined }> = []
    for (const peer of peers) {
      for (const [key, sha] of acked) checks.push({ peer, key, sha })
      for (const key of deleted) checks.push({ peer, key, sha: undefined })
    }
    await pool(checks, 16, async ({ peer, key, sha }) => {
      checked++
      let res
      try {
        res = await http('GET', `${peer.url}/get_key/${key}`)
      } catch (err) {
        if (sha !== undefined) lost.push(`${key} via ${peer.id}: ${(err as Error).message}`)
        else resurrected.push(`${key} via ${peer.id}: ${(err as Error).message}`)
        return
      }
      if (sha === undefined) {
        if (res.status !== 404) resurrected.push(`${key} via ${peer.id}: ${res.status}`)
      } else if (res.status !== 200 || sha256(res.body) !== sha) {
        lost.push(`${key} via ${peer.id}: ${res.status}${res.status === 200 ? ' wrong content' : ''}`)
      }
    })
    s.checked = checked
    s.lost = [...lostBefore, ...lost]
    s.resurrected = resurrected
    if (lost.length === 0 && resurrected.length === 0) {
      s.settledAfterMs = Date.now() - restartedAt
      break
    }
    if (Date.now() > settleDeadline) break
    log(`chaos: ${lost.length} missing, ${resurrected.length} resurrected; polling until the settle deadline`)
    await sleep(1000)
  }
  log(`chaos summary: ${JSON.stringify({ ...s, lost: s.lost.length, resurrected: s.resurrected.length })}`)
  for (const line of [...s.lost, ...s.resurrected].slice(0, 20)) log(`  ${line}`)
  return s
}
