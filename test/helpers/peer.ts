import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'

export const REPO = resolve(import.meta.dirname, '../..')
export const PMZ = join(REPO, 'bin/pmz')

export interface PeerOptions {
  /** Data dir; a fresh temp dir when absent. */
  dataDir?: string
  /** Extra flags for `pmz node`. */
  args?: string[]
  env?: Record<string, string>
  /** @default 20 s */
  readyTimeoutMs?: number
  cluster?: string
  /** Bind address. @default 127.0.0.1 */
  host?: string
  /** Discovery methods. @default static */
  discovery?: string
  /** A command that runs `node` for us, e.g. ['ip', 'netns', 'exec', name]. */
  wrap?: string[]
}

export interface Peer {
  readonly proc: ChildProcess
  readonly pid: number
  readonly url: string
  /** `host:port` of the mesh ROUTER, from the ready line. */
  readonly mesh: string
  readonly id: string
  readonly dataDir: string
  readonly options: PeerOptions
  /** Every stdout/stderr line so far. */
  readonly lines: string[]
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

const spawned = new Set<ChildProcess>()
const tempDirs = new Set<string>()

export function tempDir (prefix = 'pmz-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/**
 * Starts a real `bin/pmz node` on 127.0.0.1 with port 0 and static discovery,
 * in its own process group, and resolves once its ready line names its URL.
 */
export async function startPeer (options: PeerOptions = {}): Promise<Peer> {
  const dataDir = options.dataDir ?? tempDir()
  const cluster = options.cluster ?? `test-${randomUUID().slice(0, 8)}`
  const args = [PMZ, 'node', '--host', options.host ?? '127.0.0.1', '--http-port', '0', '--mesh-port', '0',
    '--discovery', options.discovery ?? 'static', '--data', dataDir, '--cluster', cluster, ...(options.args ?? [])]
  const [command, ...argv] = [...(options.wrap ?? []), process.execPath, ...args]
  const proc = spawn(command, argv, {
    cwd: REPO,
    env: { ...process.env, PMZ_LOG_LEVEL: 'info', ...options.env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  spawned.add(proc)
  const lines: string[] = []
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    proc.once('exit', (code, signal) => { spawned.delete(proc); resolve({ code, signal }) })
  })
  const timeoutMs = options.readyTimeoutMs ?? 20_000
  const ready = await new Promise<{ url: string, mesh: string, id: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer not ready within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs)
    const onLine = (line: string): void => {
      lines.push(line)
      if (!line.includes('"pmz ready"')) return
      const entry = JSON.parse(line) as { http: string, mesh: string, peer: string }
      clearTimeout(timer)
      resolve({ url: entry.http, mesh: entry.mesh, id: entry.peer })
    }
    createInterface({ input: proc.stdout! }).on('line', onLine)
    createInterface({ input: proc.stderr! }).on('line', line => lines.push(line))
    void exited.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`peer exited (${code ?? signal}) before ready:\n${lines.join('\n')}`))
    })
  })
  return { proc, pid: proc.pid!, url: ready.url, mesh: ready.mesh, id: ready.id, dataDir, options: { ...options, dataDir, cluster }, lines, exited }
}

/** Starts the same peer again on its data dir (after a kill). */
export async function restartPeer (peer: Peer, extra: PeerOptions = {}): Promise<Peer> {
  return await startPeer({ ...peer.options, ...extra })
}

/** SIGKILLs a peer's whole process group and waits for it to be gone. */
export async function killPeer (peer: Peer, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  try {
    process.kill(-peer.pid, signal)
  } catch {}
  await peer.exited
}

/** Kills every peer this test file spawned and removes its temp dirs; for afterEach/afterAll. */
export async function cleanupPeers (): Promise<void> {
  const waits: Array<Promise<unknown>> = []
  for (const proc of spawned) {
    if (proc.exitCode !== null || proc.signalCode !== null) continue
    waits.push(new Promise(resolve => proc.once('exit', resolve)))
    try {
      process.kill(-(proc.pid as number), 'SIGKILL')
    } catch {}
  }
  await Promise.all(waits)
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}

/** Peak resident set size (VmHWM) of a process, in bytes. */
export function peakRss (pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Runs the pmz CLI to completion. */
export async function runCli (args: string[], options: { env?: Record<string, string>, input?: Buffer, wrap?: string[] } = {}):
Promise<{ code: number | null, stdout: Buffer, stderr: string }> {
  const [command, ...argv] = [...(options.wrap ?? []), process.execPath, PMZ, ...args]
  const proc = spawn(command, argv, { cwd: REPO, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
  spawned.add(proc)
  const out: Buffer[] = []
  let err = ''
  proc.stdout.on('data', (c: Buffer) => out.push(c))
  proc.stderr.on('data', (c: Buffer) => { err += c.toString() })
  proc.stdin.end(options.input)
  const code = await new Promise<number | null>(resolve => proc.once('exit', c => { spawned.delete(proc); resolve(c) }))
  return { code, stdout: Buffer.concat(out), stderr: err }
}

/**
 * A mesh port free right now, so that the first peer's address is known
 * before it starts and every peer of a cluster can be spawned at once.
 * Taken below Linux's ephemeral range (32768-60999), where every other
 * test's port-0 listener and every outgoing connection get their ports: a
 * port from that range could be taken by one of them between this check and
 * the peer's bind (seen in CI). 21000-30999 also keeps clear of pmz's
 * defaults (31414-31416).
 */
export async function freePort (): Promise<number> {
  for (;;) {
    const port = 21_000 + Math.floor(Math.random() * 10_000)
    const free = await new Promise<boolean>(resolve => {
      const server = createServer()
      server.once('error', () => resolve(false))
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
    })
    if (free) return port
  }
}
