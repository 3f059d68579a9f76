import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { Pool } from 'undici'

export interface LoadResult { rps: number, p50: number, p99: number, errors: number, non2xx: number }

/**
 * Sends `amount` requests over `connections` keep-alive connections (one
 * request at a time on each, like Pulzar's stress test); `path(i)` gives the
 * i-th request's path. Latencies are measured per request, in ms.
 */
export async function load (base: string, opts: { method: 'PUT' | 'GET' | 'DELETE', amount: number, connections: number, path: (i: number) => string, body?: Buffer }): Promise<LoadResult> {
  const pool = new Pool(base, { connections: opts.connections, pipelining: 1 })
  const latencies = new Float64Array(opts.amount)
  let next = 0
  let errors = 0
  let non2xx = 0
  const worker = async (): Promise<void> => {
    while (next < opts.amount) {
      const i = next++
      const t0 = performance.now()
      try {
        const res = await pool.request({ path: opts.path(i), method: opts.method, body: opts.body })
        await res.body.dump()
        if (res.statusCode < 200 || res.statusCode > 299) non2xx++
      } catch {
        errors++
      }
      latencies[i] = performance.now() - t0
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: opts.connections }, worker))
  const seconds = (performance.now() - started) / 1000
  await pool.close()
  latencies.sort()
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return { rps: opts.amount / seconds, p50: at(0.5), p99: at(0.99), errors, non2xx }
}

/** Starts a node script that prints one JSON line with `http` when ready. */
export async function startScript (script: string, env: Record<string, string> = {}): Promise<{ proc: ChildProcess, url: string }> {
  const proc = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', line => {
      try {
        const { http } = JSON.parse(line) as { http?: string }
        if (http !== undefined) resolve(http)
      } catch {}
    })
    proc.once('exit', code => reject(new Error(`${script} exited with ${code}`)))
  })
  return { proc, url }
}

export function stopProcess (proc: ChildProcess): void {
  try { process.kill(-(proc.pid as number), 'SIGKILL') } catch {}
}

/** Resident memory of a process: total and peak, and the anonymous / file-backed parts, in MB. */
export function memory (pid: number): { rss: number, hwm: number, anon: number, file: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) / 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') }
}

export const fmt = (n: number, digits = 0): string => n.toFixed(digits)

export function table (rows: Array<Record<string, string | number>>): void {
  console.table(rows)
}
