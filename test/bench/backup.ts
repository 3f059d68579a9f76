// npm run bench -- backup: pmz backup and pmz restore of a 3-peer cluster
// holding PMZ_BENCH_BACKUP_MB (default 2048) MB, as MB/s against GNU tar
// (`tar -cf` of the same files on disk, and `tar -xf` of its archive)
// measured in the same run, with the peak RSS of the gateway peer and of
// the CLI process.
import { spawn, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createReadStream, mkdirSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { converged, pool } from '../helpers/cluster.js'
import { http } from '../helpers/http.js'
import { PMZ, REPO, cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'
import { fmt, memory } from './lib.js'

const MB = 1024 * 1024
const TOTAL_MB = Number(process.env.PMZ_BENCH_BACKUP_MB ?? 2048)
/** 95% of the bytes in values of 4 MiB, the rest in values of 32 KiB. */
const BIG = 4 * MB
const SMALL = 32 * 1024

/** Resets a process's peak RSS (VmHWM) to its current RSS, so the peak measured is the step's own; false where Linux refuses. */
function resetPeak (pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** Runs the pmz CLI; its wall time and its peak RSS (VmHWM, sampled until it exits). */
async function timedCli (args: string[]): Promise<{ seconds: number, peakMb: number, stdout: string, code: number | null, stderr: string }> {
  const started = performance.now()
  const proc = spawn(process.execPath, [PMZ, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let peakMb = 0
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const sample = setInterval(() => { try { peakMb = Math.max(peakMb, memory(proc.pid as number).hwm) } catch {} }, 50)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  clearInterval(sample)
  return { seconds: (performance.now() - started) / 1000, peakMb, stdout, code, stderr }
}

function timed (cmd: string, args: string[]): number {
  const started = performance.now()
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.toString()}`)
  return (performance.now() - started) / 1000
}

async function cluster (name: string): Promise<Peer[]> {
  const args = ['--replicas', '3', '--write-quorum', '2', '--maxsize', '64']
  const first = await startPeer({ cluster: name, args })
  const rest = await Promise.all([1, 2].map(async () => await startPeer({ cluster: name, args: [...args, '--join', first.mesh] })))
  await converged([first, ...rest], [first, ...rest].map(p => p.id), 20_000)
  return [first, ...rest]
}

/** Files of `bytes` in all under `dir` (as keys would name them), each block of it distinct. */
function makeFiles (dir: string, bytes: number): string[] {
  const names: string[] = []
  const block = Buffer.alloc(SMALL)
  let made = 0
  let n = 0
  while (made < bytes) {
    const size = n % 20 === 19 ? SMALL : BIG
    const name = `${size === BIG ? 'big' : 'small'}/v${String(n).padStart(6, '0')}.bin`
    mkdirSync(join(dir, name, '..'), { recursive: true })
    const parts: Buffer[] = []
    for (let at = 0; at < size; at += SMALL) {
      block.fill(n % 251)
      block.writeUInt32BE(n, 0)
      block.writeUInt32BE(at, 4)
      parts.push(Buffer.from(block))
    }
    writeFileSync(join(dir, name), Buffer.concat(parts))
    names.push(name)
    made += size
    n++
  }
  return names
}

export async function backupBench (): Promise<void> {
  try {
    console.log(`\n== backup: pmz backup / pmz restore of a 3-peer cluster (N=3, W=2) holding ${TOTAL_MB} MB, against GNU tar ==`)
    const work = tempDir('pmz-bench-backup-')
    const files = join(work, 'files')
    const names = makeFiles(files, TOTAL_MB * MB)
    const bytes = names.reduce((a, n) => a + statSync(join(files, n)).size, 0)
    const [src, dst] = await Promise.all([cluster(`bk-src-${randomUUID().slice(0, 8)}`), cluster(`bk-dst-${randomUUID().slice(0, 8)}`)])
    const loadStarted = performance.now()
    await pool(names, 4, async name => {
      const res = await http('PUT', `${src[names.indexOf(name) % 3].url}/add_key/${name}`, createReadStream(join(files, name)), { 'content-length': String(statSync(join(files, name)).size) })
      if (res.status !== 201) throw new Error(`PUT ${name}: ${res.status} ${res.body.toString()}`)
    })
    const loadSeconds = (performance.now() - loadStarted) / 1000
    console.log(`loaded ${names.length} keys, ${fmt(bytes / MB)} MB (${names.filter(n => n.startsWith('small/')).length} of 32 KiB, the rest of 4 MiB)`)

    const refTar = join(work, 'ref.tar')
    const tarC = timed('tar', ['-cf', refTar, '-C', files, '.'])
    const untarDir = join(work, 'untar')
    mkdirSync(untarDir)
    const tarX = timed('tar', ['-xf', refTar, '-C', untarDir])

    const archive = join(work, 'backup.tar')
    const gw = src[0]
    const peaks = resetPeak(gw.pid) && resetPeak(dst[0].pid) ? 'since the step began' : 'since the peer started (clear_refs refused)'
    const b = await timedCli(['backup', '--out', archive, '--no-progress', '--gateway', gw.url])
    if (b.code !== 0) throw new Error(`pmz backup failed: ${b.stderr}`)
    const gwBackup = memory(gw.pid).hwm
    const r = await timedCli(['restore', archive, '--no-progress', '--json', '--gateway', dst[0].url])
    if (r.code !== 0) throw new Error(`pmz restore failed: ${r.stderr}`)
    const gwRestore = memory(dst[0].pid).hwm
    const report = JSON.parse(r.stdout) as { keys: number, restored: number }
    const held = (await http('GET', `${dst[1].url}/admin/status`)).json?.data.entries as number
    const mbps = (s: number): number => bytes / MB / s
    console.table([
      { step: 'tar -cf (reference)', 'MB/s': fmt(mbps(tarC)), 'x tar -cf': '1.00', 'gateway peak RSS MB': '-', 'client peak RSS MB': '-', seconds: fmt(tarC, 1) },
      { step: 'tar -xf', 'MB/s': fmt(mbps(tarX)), 'x tar -cf': fmt(tarC / tarX, 2), 'gateway peak RSS MB': '-', 'client peak RSS MB': '-', seconds: fmt(tarX, 1) },
      { step: 'add_key, 4 at once (loading)', 'MB/s': fmt(mbps(loadSeconds)), 'x tar -cf': fmt(tarC / loadSeconds, 2), 'gateway peak RSS MB': '-', 'client peak RSS MB': '-', seconds: fmt(loadSeconds, 1) },
      { step: 'pmz backup', 'MB/s': fmt(mbps(b.seconds)), 'x tar -cf': fmt(tarC / b.seconds, 2), 'gateway peak RSS MB': fmt(gwBackup), 'client peak RSS MB': fmt(b.peakMb), seconds: fmt(b.seconds, 1) },
      { step: 'pmz restore', 'MB/s': fmt(mbps(r.seconds)), 'x tar -cf': fmt(tarC / r.seconds, 2), 'gateway peak RSS MB': fmt(gwRestore), 'client peak RSS MB': fmt(r.peakMb), seconds: fmt(r.seconds, 1) }
    ])
    console.log(`restored ${report.restored} of ${report.keys} keys; the new cluster holds ${held}${held === names.length ? '' : ' (MISMATCH)'}; archive ${fmt(statSync(archive).size / MB)} MB${existsSync(refTar) ? `, tar's ${fmt(statSync(refTar).size / MB)} MB` : ''}`)
    console.log(`targets: backup and restore >= 0.7x tar -cf, peak RSS <= 300 MB (gateway: ${peaks}). A restore writes each value to N=3 replicas (fsync'd) after verifying the whole archive; tar writes one copy.`)
  } finally {
    await cleanupPeers()
  }
}
