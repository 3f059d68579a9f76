// The reference of the jobs bench: BullMQ on a redis-server this bench starts
// on a free port with a temp dir (and stops by pid), the producer here, the
// Worker in its own process (bullmq-worker.mjs).
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { tempDir } from '../helpers/peer.js'
import { cpuSeconds, stopProcess, wallMs } from './lib.js'
import type { JobsRun } from './jobs.js'

/** `default`: redis-server's built-in persistence (RDB snapshots, no AOF); `always`: appendonly yes, appendfsync always. */
export type RedisPersistence = 'default' | 'always'

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    }).on('error', reject)
  })
}

/** Resolves with the first line of `proc`'s stdout that `match` accepts; rejects if it exits first. */
async function lineOf<T> (proc: ChildProcess, what: string, match: (line: string) => T | undefined): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! })
    rl.on('line', line => {
      const v = match(line)
      if (v !== undefined) { rl.close(); resolve(v) }
    })
    proc.once('exit', code => reject(new Error(`${what} exited with ${code}`)))
  })
}

async function startRedis (persistence: RedisPersistence): Promise<{ proc: ChildProcess, port: number }> {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', tempDir('pmz-bench-redis-'), '--daemonize', 'no']
  if (persistence === 'always') args.push('--appendonly', 'yes', '--appendfsync', 'always')
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  await lineOf(proc, 'redis-server', l => l.includes('Ready to accept connections') ? true : undefined)
  return { proc, port }
}

/**
 * `jobs` no-op jobs added by `concurrency` concurrent producers (after
 * `warmup` the same way), a Worker of `concurrency` processing them: the
 * measured figures of a JobsRun, CPU summed over redis-server and the Worker.
 */
export async function runBullmq (persistence: RedisPersistence, opts: { jobs: number, warmup: number, idleJobs: number, concurrency: number }): Promise<JobsRun> {
  const redis = await startRedis(persistence)
  const queueName = 'bench'
  const worker = spawn(process.execPath, [join(import.meta.dirname, 'bullmq-worker.mjs')], {
    env: { ...process.env, REDIS_PORT: String(redis.port), QUEUE: queueName, CONCURRENCY: String(opts.concurrency), TARGETS: `${opts.warmup},${opts.warmup + opts.jobs},${opts.warmup + opts.jobs + opts.idleJobs}` },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true
  })
  const connection = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null })
  const queue = new Queue(queueName, { connection })
  try {
    // Every line the worker printed, in order: ready, then one per target reached.
    const lines: Array<{ ready?: true, done?: number, at: number, starts: Record<string, number> }> = []
    const waiters: Array<{ count: number, resolve: () => void }> = []
    createInterface({ input: worker.stdout! }).on('line', line => {
      lines.push(JSON.parse(line))
      for (const w of waiters.filter(w => lines.length >= w.count)) w.resolve()
    })
    const nth = async (count: number): Promise<void> => await new Promise(resolve => {
      if (lines.length >= count) resolve()
      else waiters.push({ count, resolve })
    })
    await nth(1) // ready
    const produce = async (from: number, count: number, sent: Float64Array, acks: number[], concurrency = opts.concurrency): Promise<void> => {
      let i = 0
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (i < count) {
          const k = i++
          sent[k] = wallMs()
          await queue.add('noop', { i: from + k })
          acks.push(wallMs() - sent[k])
        }
      }))
    }
    const warmDone = nth(2)
    await produce(0, opts.warmup, new Float64Array(opts.warmup), [])
    await warmDone
    const sent = new Float64Array(opts.jobs)
    const acks: number[] = []
    const cpu = (): number => cpuSeconds(redis.proc.pid as number) + cpuSeconds(worker.pid as number)
    const cpu0 = cpu()
    const t0 = wallMs()
    const allDone = nth(3)
    await produce(opts.warmup, opts.jobs, sent, acks)
    await allDone
    const report = lines[2] as { at: number, starts: Record<string, number> }
    const cpuUs = (cpu() - cpu0) / opts.jobs * 1e6
    const startLatency = Array.from(sent, (s, k) => report.starts[opts.warmup + k] - s)
    const idleSent = new Float64Array(opts.idleJobs)
    const idleDone = nth(4)
    await produce(opts.warmup + opts.jobs, opts.idleJobs, idleSent, [], 1)
    await idleDone
    const idle = lines[3] as { starts: Record<string, number> }
    const idleStartLatency = Array.from(idleSent, (s, k) => idle.starts[opts.warmup + opts.jobs + k] - s)
    return { jobs: opts.jobs, seconds: (report.at - t0) / 1000, startLatency, idleStartLatency, ackLatency: acks, cpuUs, notReady: 0 }
  } finally {
    await queue.close().catch(() => {})
    connection.disconnect()
    stopProcess(worker)
    stopProcess(redis.proc)
  }
}
