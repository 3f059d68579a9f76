// The BullMQ side of the jobs bench: a Worker (concurrency from the env) with
// a no-op processor, in its own process so that its CPU time is measured apart
// from the load generator. Prints {"ready":true}, then one JSON line each time
// the completed count reaches the next of TARGETS (cumulative), with the wall
// time then and the wall time each job's processor started, by job.data.i.
import { Worker } from 'bullmq'
import IORedis from 'ioredis'

const now = () => performance.timeOrigin + performance.now()
const connection = new IORedis({ host: '127.0.0.1', port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null })
const targets = process.env.TARGETS.split(',').map(Number)
let starts = {}
let done = 0
const worker = new Worker(process.env.QUEUE, async job => {
  const t = now()
  starts[job.data.i] = t
  return { t }
}, { connection, concurrency: Number(process.env.CONCURRENCY) })
worker.on('completed', () => {
  done++
  if (done !== targets[0]) return
  targets.shift()
  process.stdout.write(JSON.stringify({ done, at: now(), starts }) + '\n')
  starts = {}
})
worker.on('error', err => process.stderr.write(`bullmq worker: ${err.message}\n`))
await worker.waitUntilReady()
process.stdout.write('{"ready":true}\n')
