// A worker thread of the MatchPool: runs matchTemplate off the event loop.
import { parentPort } from 'node:worker_threads'
import { matchTemplate } from './match.js'
import type { MatchJob, MatchReply } from './match-pool.js'

const port = parentPort
if (port === null) throw new Error('match-worker runs as a worker thread')
port.on('message', (job: MatchJob) => {
  let reply: MatchReply
  try {
    reply = { id: job.id, result: matchTemplate(job.base, job.template, job.options) }
  } catch (err) {
    reply = { id: job.id, error: (err as Error).message }
  }
  port.postMessage(reply)
})
