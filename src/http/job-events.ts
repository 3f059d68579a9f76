import type { ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { request } from 'undici'
import type { Clock, Timer } from '../common/clock.js'
import { PmzError, notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { JobChange } from '../jobs/index.js'
import { FORWARDED_HEADER, forward } from './coordinator-routes.js'
import { CORS_HEADERS } from './envelope.js'
import { idOf } from './job-query.js'
import { mountRoute } from './routes.js'
import { feedEvents, sseFrame, type FeedMark, type SseEvent } from './sse-events.js'
import type { CoordinatorView, JobsView } from './types.js'

/** A comment line this often keeps proxies from cutting an idle stream, and re-reads the job (a snapshot install emits no change), ms. */
const SSE_PING_MS = 15_000
/** Bytes a slow client may leave unread before its `log` and `progress` events are dropped (and counted). */
const SSE_SOFT_BUFFER_BYTES = 256 * 1024
/** Bytes unread past which the client is cut off. */
const SSE_HARD_BUFFER_BYTES = 4 * 1024 * 1024
/** Changes held while the stream opens (the read barrier); more are dropped, the stream's first state covers them. */
const MAX_EARLY_CHANGES = 1024
/** Deadline of the forwarded stream's headers, ms. */
const FORWARD_HEADERS_TIMEOUT_MS = 10_000

export const SSE_HEADERS = {
  ...CORS_HEADERS,
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no'
} as const

/**
 * `GET /jobs/{id}/events`: server-sent events of one job (sse-events.ts)
 * until it ends, from this peer's replica of the job table; a peer without
 * the coordinator role relays the coordinator's stream. Unknown id → 404
 * before the stream opens.
 */
export function mountJobEvents (app: FastifyInstance, jobs: JobsView, co: CoordinatorView, clock: Clock, log: Logger): void {
  const open = new Set<JobStream>()
  app.addHook('preClose', done => {
    for (const s of open) s.close()
    done()
  })
  mountRoute(app, {
    url: '/jobs/:id/events',
    handlers: {
      GET: async (req, reply) => {
        const id = idOf(req)
        if (!jobs.local) return await relay(co, req, reply, log)
        // Listen first, so that nothing applied between the read and the stream's opening is missed.
        const early: JobChange[] = []
        let stream: JobStream | undefined
        const off = jobs.follow(id, change => {
          if (stream !== undefined) stream.change(change)
          else if (early.length < MAX_EARLY_CHANGES) early.push(change)
        })
        let job
        try {
          job = await jobs.get(id)
        } catch (err) {
          off()
          throw err
        }
        if (job === undefined) {
          off()
          throw notFound('job id not found')
        }
        reply.hijack()
        stream = new JobStream(reply.raw, id, { clock, log, jobs, off, open })
        stream.change({ job, lines: [] })
        for (const c of early) stream.change(c)
      },
      // Whether the stream would open, without holding it open.
      HEAD: async (req, reply) => {
        const id = idOf(req)
        if (jobs.local && await jobs.get(id) === undefined) throw notFound('job id not found')
        if (!jobs.local) return await forward(co, req, reply, log, async () => Buffer.alloc(0))
        return await reply.code(200).headers(SSE_HEADERS).send()
      }
    }
  })
}

/** One client's stream of a job's events. */
class JobStream {
  private readonly mark: FeedMark = {}
  private readonly ping: Timer
  private dropped = 0
  private closed = false

  constructor (private readonly res: ServerResponse, private readonly jobId: number,
    private readonly c: { clock: Clock, log: Logger, jobs: JobsView, off: () => void, open: Set<JobStream> }) {
    c.open.add(this)
    res.writeHead(200, SSE_HEADERS)
    res.on('close', () => this.close())
    this.ping = c.clock.setInterval(() => {
      this.res.write(': ping\n\n')
      c.jobs.get(jobId).then(job => this.change({ job, lines: [] }), err => c.log.debug({ err, jobId }, 'job stream re-read failed'))
    }, SSE_PING_MS)
  }

  change (change: JobChange): void {
    if (this.closed) return
    for (const e of feedEvents(this.mark, this.jobId, change)) this.send(e)
    if (this.mark.ended === true) this.close()
  }

  private send (e: SseEvent): void {
    const backlog = this.res.writableLength
    if (backlog > SSE_HARD_BUFFER_BYTES) {
      this.c.log.info({ jobId: this.jobId, backlog }, 'job stream client too slow; cut off')
      this.res.destroy()
      return
    }
    if (backlog > SSE_SOFT_BUFFER_BYTES && (e.event === 'log' || e.event === 'progress')) {
      this.dropped++
      return
    }
    if (this.dropped > 0) {
      this.res.write(`event: dropped\ndata: ${JSON.stringify({ job_id: this.jobId, events: this.dropped })}\n\n`)
      this.dropped = 0
    }
    this.res.write(sseFrame(e))
  }

  /** Stops following and ends the response (idempotent). */
  close (): void {
    if (this.closed) return
    this.closed = true
    this.ping.cancel()
    this.c.off()
    this.c.open.delete(this)
    if (!this.res.writableEnded) this.res.end()
  }
}

/** A peer without the coordinator role: relays the coordinator gateway's stream, byte for byte, until either side goes. */
export async function relay (co: CoordinatorView, req: FastifyRequest, reply: FastifyReply, log: Logger): Promise<unknown> {
  const target = co.leaderHttp()
  if (target === undefined || target === '' || req.headers[FORWARDED_HEADER] !== undefined) {
    throw new PmzError('ERR_NO_COORDINATOR', 'no coordinator is known; try again shortly')
  }
  const abort = new AbortController()
  let res
  try {
    res = await request(`${target}${req.raw.url ?? ''}`, {
      method: 'GET',
      signal: abort.signal,
      headers: { [FORWARDED_HEADER]: '1', ...(req.headers.authorization !== undefined ? { authorization: req.headers.authorization } : {}) },
      headersTimeout: FORWARD_HEADERS_TIMEOUT_MS,
      // The coordinator pings every SSE_PING_MS: a longer silence means it is gone.
      bodyTimeout: 2 * SSE_PING_MS + 5000
    })
  } catch (err) {
    log.warn({ err, target }, 'forwarding a job stream to the coordinator failed')
    throw new PmzError('ERR_NO_COORDINATOR', 'the coordinator could not be reached; try again shortly', { cause: err })
  }
  if (res.statusCode !== 200) {
    const payload = await res.body.text()
    return await reply.code(res.statusCode).header('content-type', 'application/json; charset=utf-8').send(payload)
  }
  reply.hijack()
  reply.raw.writeHead(200, SSE_HEADERS)
  reply.raw.on('close', () => abort.abort())
  try {
    await pipeline(res.body, reply.raw)
  } catch (err) {
    // The client left (abort) or the coordinator went away: the client may reconnect; the stream opens with the job's state.
    if (!abort.signal.aborted) log.debug({ err, target }, 'relayed job stream ended early')
    if (!reply.raw.writableEnded) reply.raw.end()
  }
  return undefined
}
