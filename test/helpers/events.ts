// A client of the cluster event stream (`GET /events`) for integration tests.
import { request } from 'node:http'
import { waitFor } from './http.js'

/** One server-sent event: its id (absent for hello, reset and snapshots), name and parsed data. */
export interface ClusterEvent { id?: number, event: string, data: any }

export interface EventClient {
  readonly status: number
  /** The envelope of a refused stream (not 200). */
  readonly json: { data: unknown, status: string, msg: string } | undefined
  /** Every event so far, in order. */
  readonly events: ClusterEvent[]
  /** Comment lines (`: keep-alive`) so far. */
  readonly comments: number
  /** Whether the server ended the stream. */
  readonly ended: boolean
  /** The first event matching `pred`, waiting for it up to `timeoutMs`. */
  until(pred: (e: ClusterEvent) => boolean, timeoutMs: number, what: string): Promise<ClusterEvent>
  close(): void
}

/** Opens `GET {url}` and resolves once the answer's headers (and, when refused, its body) are in. */
export async function openEvents (url: string, headers: Record<string, string> = {}): Promise<EventClient> {
  const u = new URL(url)
  return await new Promise<EventClient>((resolve, reject) => {
    const events: ClusterEvent[] = []
    let rest = ''
    let comments = 0
    let ended = false
    const req = request({ host: u.hostname, port: Number(u.port), path: `${u.pathname}${u.search}`, headers, agent: false }, res => {
      res.setEncoding('utf8')
      const client: EventClient = {
        status: res.statusCode ?? 0,
        json: undefined,
        events,
        get comments () { return comments },
        get ended () { return ended },
        async until (pred, timeoutMs, what) {
          await waitFor(() => events.some(pred), timeoutMs, what, 20)
          return events.find(pred) as ClusterEvent
        },
        close: () => { req.destroy() }
      }
      if (client.status !== 200) {
        let body = ''
        res.on('data', (c: string) => { body += c })
        res.on('end', () => resolve({ ...client, json: JSON.parse(body) }))
        return
      }
      res.on('data', (chunk: string) => {
        rest += chunk
        let cut
        while ((cut = rest.indexOf('\n\n')) !== -1) {
          const frame = rest.slice(0, cut)
          rest = rest.slice(cut + 2)
          if (frame.startsWith(':')) {
            comments++
            continue
          }
          const id = /^id: (\d+)$/m.exec(frame)?.[1]
          const event = /^event: (.*)$/m.exec(frame)?.[1] ?? 'message'
          const data = /^data: (.*)$/m.exec(frame)?.[1] ?? 'null'
          events.push({ ...(id !== undefined ? { id: Number(id) } : {}), event, data: JSON.parse(data) })
        }
      })
      res.on('end', () => { ended = true })
      res.on('error', () => { ended = true })
      resolve(client)
    })
    req.on('error', reject)
    req.end()
  })
}
