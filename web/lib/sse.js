// Server-sent events read with fetch rather than EventSource: EventSource sends no
// Authorization header, and the event streams need the bearer token when one is set.
import { ApiError, authHeaders } from './api.js'

/**
 * Reads `url` as text/event-stream until it ends, the signal aborts, or it
 * fails; calls `onEvent({event, data, id})` with `data` parsed as JSON, and
 * `onData()` on every chunk (keep-alive comments included).
 * Resolves when the server closes the stream; rejects with ApiError on a
 * non-2xx answer (its envelope's msg) or the network error.
 */
export async function readStream (url, { onEvent, onOpen, onData, signal, lastEventId }) {
  const headers = { accept: 'text/event-stream', ...authHeaders() }
  if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId)
  const res = await fetch(url, { headers, signal, cache: 'no-store' })
  if (!res.ok) {
    let msg = ''
    try { msg = (await res.json()).msg } catch {}
    throw new ApiError(res.status, msg)
  }
  onOpen?.()
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let rest = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    onData?.()
    rest += value
    let cut
    while ((cut = frameEnd(rest)) !== -1) {
      const frame = rest.slice(0, cut)
      rest = rest.slice(cut).replace(/^(\r?\n){2}/, '')
      const e = parseFrame(frame)
      if (e !== undefined) onEvent(e)
    }
  }
}

function frameEnd (text) {
  const m = /\r?\n\r?\n/.exec(text)
  return m === null ? -1 : m.index
}

/** One frame's `event`, `data` (JSON) and `id`; undefined for a comment (keep-alive) or unparsable data. */
function parseFrame (frame) {
  let event = 'message'
  let id
  const data = []
  for (const line of frame.split(/\r?\n/)) {
    if (line === '' || line.startsWith(':')) continue
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') event = value
    else if (field === 'data') data.push(value)
    else if (field === 'id') id = value
  }
  if (data.length === 0) return undefined
  try {
    return { event, id, data: JSON.parse(data.join('\n')) }
  } catch {
    return undefined
  }
}
