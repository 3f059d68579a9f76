// The live state of the cluster, fed by the event stream `GET /events`
// (docs/http-api.md, "Event stream") and, for what the stream does not carry
// (disk, load, last heard, the ring's counters), by a few reads of the API.
// Where the stream cannot be had (an older peer: 404), every view polls instead.
import { ApiError, get, onAuth } from './api.js'
import { readStream } from './sse.js'

const NETWORK_REFRESH_MS = 5_000
const POLL_MS = 2_000
const RETRY_MIN_MS = 500
const RETRY_MAX_MS = 10_000
const JOBS_KEPT = 500
/** The stream sends a keep-alive every 15 s: past this silence the connection is taken for dead and made again. */
const SILENCE_MS = 40_000

function createLive () {
  const state = {
    /** 'connecting' | 'live' | 'polling' (no event stream on this peer) | 'retrying' */
    conn: 'connecting',
    self: null,
    peers: [],
    leader: null,
    term: null,
    ring: null,
    repair: null,
    /** Latest job events by job id (newest last). */
    jobs: new Map(),
    batches: new Map(),
    error: null,
    version: 0
  }
  const topics = new Map()
  let lastId
  let abort
  let retryMs = RETRY_MIN_MS
  let refreshTimer
  let pending
  let heardAt = 0

  const changed = () => { state.version++; fire('change', state) }
  function fire (topic, e) {
    for (const fn of topics.get(topic) ?? []) fn(e)
  }

  /** Reads admin/network and admin/ring now (at most one read at a time). */
  async function refresh () {
    pending ??= (async () => {
      try {
        const [peers, ring] = await Promise.all([get('admin/network'), get('admin/ring').catch(() => null)])
        state.peers = peers
        state.ring = ring
        state.error = null
      } catch (err) {
        state.error = err.message
      } finally {
        pending = undefined
        changed()
      }
    })()
    return await pending
  }

  let soon
  /** A refresh within 300 ms, coalescing bursts of events. */
  function refreshSoon () {
    soon ??= setTimeout(() => { soon = undefined; void refresh() }, 300)
  }

  function schedule () {
    clearInterval(refreshTimer)
    refreshTimer = setInterval(() => { void refresh() }, state.conn === 'live' ? NETWORK_REFRESH_MS : POLL_MS)
  }

  function onEvent ({ event, data, id }) {
    if (id !== undefined) lastId = id
    switch (event) {
      case 'hello': state.self = data.peer; break
      case 'reset': lastId = undefined; void refresh(); break
      case 'peers': onPeers(data); break
      case 'coordinator':
        state.leader = data.leader
        state.term = data.term
        for (const p of state.peers) p.coordinator = p.node === data.leader
        break
      case 'ring':
        if (data.type === 'repair') state.repair = data
        refreshSoon()
        break
      case 'jobs':
        state.jobs.delete(data.job_id)
        state.jobs.set(data.job_id, data)
        if (state.jobs.size > JOBS_KEPT) state.jobs.delete(state.jobs.keys().next().value)
        break
      case 'batches': state.batches.set(data.batch_id, data); break
    }
    fire(event, data)
    changed()
  }

  function onPeers (data) {
    if (data.type === 'snapshot') {
      state.peers = data.peers
      return
    }
    if (data.type !== 'peer') return
    const row = state.peers.find(p => p.node === data.id)
    if (row === undefined) {
      refreshSoon()
      return
    }
    row.state = data.state
    row.synch = data.state === 'alive'
    if (Array.isArray(data.roles)) row.roles = data.roles
    if (typeof data.http === 'string') row.http = data.http
  }

  async function connect () {
    abort?.abort()
    const controller = new AbortController()
    abort = controller
    try {
      await readStream('events', {
        signal: controller.signal,
        lastEventId: lastId,
        onOpen: () => { state.conn = 'live'; heardAt = Date.now(); retryMs = RETRY_MIN_MS; schedule(); changed() },
        onData: () => { heardAt = Date.now() },
        onEvent
      })
    } catch (err) {
      if (controller.signal.aborted) return
      // No event stream on this peer: every view polls.
      if (err instanceof ApiError && (err.status === 404 || err.status === 405)) {
        state.conn = 'polling'
        schedule()
        changed()
        return
      }
      if (err instanceof ApiError && err.status === 401) {
        state.conn = 'retrying'
        state.error = 'a token is needed'
        changed()
        return
      }
    }
    if (controller.signal.aborted) return
    state.conn = 'retrying'
    schedule()
    changed()
    setTimeout(() => { if (abort === controller) void connect() }, retryMs)
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2)
  }

  return {
    state,
    start () {
      onAuth(e => { if (e.type === 'token') { void refresh(); void connect() } })
      schedule()
      void refresh()
      void connect()
      // A stream cut without a word (a peer gone, a NAT timeout) shows only as silence.
      setInterval(() => { if (state.conn === 'live' && Date.now() - heardAt > SILENCE_MS) void connect() }, SILENCE_MS / 4)
    },
    refresh,
    /** Whether views must poll for themselves (no event stream). */
    polling: () => state.conn !== 'live',
    /** Hears one topic's events ('keys', 'jobs', 'schedules', 'batches', 'ring', 'peers') or 'change'; returns the off function. */
    on (topic, fn) {
      if (!topics.has(topic)) topics.set(topic, new Set())
      topics.get(topic).add(fn)
      return () => topics.get(topic).delete(fn)
    }
  }
}

export const live = createLive()
export { POLL_MS }
