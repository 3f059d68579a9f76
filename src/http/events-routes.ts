import type { FastifyInstance } from 'fastify'
import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import { eventFrame } from './cluster-events/event-log.js'
import { EventStream } from './cluster-events/stream.js'
import { TOPICS, parseLastEventId, parseTopics, type Topic } from './cluster-events/topics.js'
import type { ClusterEvents } from './cluster-events/types.js'
import { SSE_HEADERS } from './job-events.js'
import { mountRoute } from './routes.js'

/**
 * `GET /events` (EVENTS-CONTRACT): the cluster event stream of this peer.
 * First `hello` with the peer id and the last event id; then, resuming
 * (Last-Event-ID or ?lastEventId=) after an id the log still follows, every
 * event after it; otherwise (`reset` first when that id is too old) one
 * snapshot per topic that has one; then live events, as the log records
 * them, of the topics asked for. An unknown topic → 400 before the stream
 * opens.
 */
export function mountEventRoutes (app: FastifyInstance, events: ClusterEvents, clock: Clock, log: Logger): void {
  const open = new Set<EventStream>()
  app.addHook('preClose', done => {
    for (const s of open) s.close()
    done()
  })
  mountRoute(app, {
    url: '/events',
    handlers: {
      GET: async (req, reply) => {
        const query = req.query as Record<string, unknown>
        const topics = parseTopics(query.topics)
        const after = parseLastEventId(req.headers['last-event-id'], query.lastEventId)
        reply.hijack()
        const res = reply.raw
        res.writeHead(200, SSE_HEADERS)
        // Follow before anything is read: nothing recorded from here on is missed; it waits in the stream's queue until open().
        let unfollow = (): void => {}
        const stream = new EventStream(res, {
          topics,
          maxQueueBytes: events.streamQueueBytes,
          clock,
          log,
          onClose: () => {
            unfollow()
            open.delete(stream)
          }
        })
        open.add(stream)
        res.on('close', () => { stream.close() })
        const lastId = events.log.lastId()
        const replay = after === undefined ? undefined : events.log.after(after)
        unfollow = events.log.follow(e => { stream.push(e) })
        const hello = eventFrame('hello', { peer: events.peerId, seq: lastId })
        if (replay !== undefined) {
          stream.open([hello])
          for (const e of replay) stream.push(e)
          return
        }
        const head = [hello]
        if (after !== undefined) head.push(eventFrame('reset', { reason: 'gap' }))
        head.push(...await snapshots(events, topics))
        stream.open(head)
      },
      // Whether the stream would open (the query is valid), without holding it open.
      HEAD: async (req, reply) => {
        const query = req.query as Record<string, unknown>
        parseTopics(query.topics)
        parseLastEventId(req.headers['last-event-id'], query.lastEventId)
        return await reply.code(200).headers(SSE_HEADERS).send()
      }
    }
  })
}

/** The snapshot frames of the topics asked for, in TOPICS order. */
async function snapshots (events: ClusterEvents, topics: ReadonlySet<Topic>): Promise<string[]> {
  const asked = TOPICS.filter(t => topics.has(t))
  const data = await Promise.all(asked.map(async t => await events.snapshot(t)))
  return asked.flatMap((t, i) => data[i] === undefined ? [] : [eventFrame(t, data[i])])
}
