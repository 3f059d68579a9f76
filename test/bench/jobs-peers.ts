// Peers of the jobs bench: every role, the bench's seeds in a temp seeds dir each.
import { randomUUID } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { startPeer, tempDir, type Peer } from '../helpers/peer.js'

/** Job slots per peer: the concurrency of the bench. */
export const SLOTS = 64

/** The no-op seed: its output is the wall time at which its function started (ms, sub-ms precision). */
export const NOOP = 'export default () => ({ t: performance.timeOrigin + performance.now() })\n'

/** Writes `seeds/bench/<name>.mjs` for each entry into a fresh seeds dir. */
export function seedsDir (seeds: Record<string, string>): string {
  const dir = tempDir('pmz-bench-seeds-')
  mkdirSync(join(dir, 'bench'))
  for (const [name, text] of Object.entries(seeds)) writeFileSync(join(dir, 'bench', `${name}.mjs`), text)
  return dir
}

/** `n` peers of every role (extra `env`) (each its own seeds dir with the same seeds, `--job-slots` SLOTS), joined, the seeds in every catalog. */
export async function startJobPeers (n: number, seeds: Record<string, string>, env: Record<string, string> = {}): Promise<Peer[]> {
  const cluster = `bench-${randomUUID().slice(0, 8)}`
  const args = (): string[] => ['--seeds', seedsDir(seeds), '--job-slots', String(SLOTS)]
  // node refuses --cpu-prof in NODE_OPTIONS: a shell puts it on the command line and execs node (same pid).
  const wrap = PROFILE_DIR === undefined ? undefined : ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${PROFILE_DIR} "$@"`]
  const first = await startPeer({ cluster, wrap, env, args: args() })
  const rest = await Promise.all(Array.from({ length: n - 1 }, async () => await startPeer({ cluster, wrap, env, args: [...args(), '--join', first.mesh] })))
  const peers = [first, ...rest]
  await converged(peers, peers.map(p => p.id), 20_000)
  await waitFor(async () => {
    for (const p of peers) {
      const rows = (await http('GET', `${p.url}/admin/job_catalog`)).json?.data as Array<{ path: string, peers: string[] }> | undefined
      if (!Object.keys(seeds).every(s => rows?.find(r => r.path === `bench/${s}`)?.peers.length === n)) return false
    }
    return true
  }, 20_000, 'the bench seeds in every catalog')
  // The coordinator may still be forming: one launch is retried until it is accepted.
  await waitFor(async () => (await http('POST', `${first.url}/launch_job/bench/noop`, '{}')).status === 200, 20_000, 'a first launch')
  return peers
}


/** PMZ_BENCH_PROFILE=dir: the peers run with --cpu-prof into dir (stopPeers lets them write it). */
export const PROFILE_DIR = process.env.PMZ_BENCH_PROFILE

/** With PMZ_BENCH_PROFILE, stops the peers with SIGTERM so that each writes its CPU profile (cleanupPeers kills the rest). */
export async function stopForProfile (peers: Peer[]): Promise<void> {
  if (PROFILE_DIR === undefined) return
  await Promise.all(peers.map(async p => {
    try { process.kill(p.pid, 'SIGTERM') } catch {}
    await Promise.race([p.exited, new Promise(resolve => setTimeout(resolve, 10_000))])
  }))
}
