import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Clock, Timer } from '../common/clock.js'
import { notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import { batchItem, batchSummary } from './batch-views.js'
import { SSE_HEADERS, relay } from './job-events.js'
import { idOf } from './job-query.js'
import { mountRoute } from './routes.js'
import type { BatchRead, CoordinatorView, JobsView } from './types.js'

/** A batch's progress is sent at most this often, ms (its tasks change on every report). */
const BATCH_EVENT_EVERY_MS = 500
/** A comment line this often keeps proxies from cutting an idle stream, ms. */
const SSE_PING_MS = 15_000
/** Bytes a slow client may leave unread before progress events are skipped (the next one carries the same counts). */
const SSE_SOFT_BUFFER_BYTES = 256 * 1024
const SSE_HARD_BUFFER_BYTES = 4 * 1024 * 1024

/**
 * `GET /admin/batches/{id}/events` (issue 16): server-sent events of a
 * batch's progress — `progress` with its summary (counts, throughput, ETA)
 * when it changed, at most every BATCH_EVENT_EVERY_MS, then `end` with the
 * full summary (failures included) once it is done or cancelled, and the
 * stream closes. A peer without the coordinator role relays the
 * coordinator's stream. Unknown id → 404 before the stream opens.
 */
export function mountBatchEvents (app: FastifyInstance, jobs: JobsView, co: CoordinatorView, clock: Clock, log: Logger): void {
  const open = new Set<BatchStream>()
  app.addHook('preClose', done => {
    for (const s of open) s.close()
    done()
  })
  mountRoute(app, {
    url: '/admin/batches/:id/events',
    handlers: {
      GET: async (req, reply) => {
        const id = idOf(req)
        if (!jobs.local) return await relay(co, req, reply, log)
        const first = await jobs.getBatch(id)
        if (first === undefined) throw notFound('batch id not found')
        reply.hijack()
        const stream = new BatchStream(reply.raw, id, { clock, log, jobs, open })
        stream.show(first)
      }
    }
  })
}

/** One client's stream of a batch's progress. */
class BatchStream {
  private readonly off: () => void
  private readonly ping: Timer
  private due: Timer | undefined
  private last = ''
  private closed = false

  constructor (private readonly res: ServerResponse, private readonly batchId: number,
    private readonly c: { clock: Clock, log: Logger, jobs: JobsView, open: Set<BatchStream> }) {
    c.open.add(this)
    res.writeHead(200, SSE_HEADERS)
    res.on('close', () => this.close())
    this.off = c.jobs.followBatch(batchId, () => { this.due ??= c.clock.setTimeout(() => this.refresh(), BATCH_EVENT_EVERY_MS) })
    this.ping = c.clock.setInterval(() => {
      this.res.write(': ping\n\n')
      this.refresh()
    }, SSE_PING_MS)
  }

  /** Sends the batch's progress if it changed, or its end. */
  show (r: BatchRead): void {
    if (this.closed) return
    const now = this.c.clock.now()
    const item = batchItem(r, now)
    if (item.state === 'done' || item.state === 'cancelled') {
      this.res.write(`event: end\ndata: ${JSON.stringify(batchSummary(r, now))}\n\n`)
      this.close()
      return
    }
    const { throughput_per_s: _t, eta_s: _e, elapsed_ms: _m, ...counted } = item
    const key = JSON.stringify(counted)
    if (key === this.last) return
    const backlog = this.res.writableLength
    if (backlog > SSE_HARD_BUFFER_BYTES) {
      this.res.destroy()
      return
    }
    if (backlog > SSE_SOFT_BUFFER_BYTES) return
    this.last = key
    this.res.write(`event: progress\ndata: ${JSON.stringify(item)}\n\n`)
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.ping.cancel()
    this.due?.cancel()
    this.off()
    this.c.open.delete(this)
    if (!this.res.writableEnded) this.res.end()
  }

  private refresh (): void {
    this.due = undefined
    if (this.closed) return
    this.c.jobs.getBatch(this.batchId).then(r => {
      if (r === undefined) this.close()
      else this.show(r)
    }, err => this.c.log.debug({ err, batchId: this.batchId }, 'batch stream re-read failed'))
  }
}
