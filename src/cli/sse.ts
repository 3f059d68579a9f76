/** One server-sent event as read: its name (`message` when the server gave none) and its data lines joined. */
export interface ReadEvent { event: string, data: string }

/**
 * Splits a server-sent event stream into events as its bytes arrive
 * (WHATWG HTML §9.2.6, the parts pmz sends: `event:`, `data:`, comments;
 * `id:` and `retry:` are ignored).
 */
export class SseParser {
  private rest = ''
  private event = ''
  private data: string[] = []

  /** The events completed by `chunk`. */
  push (chunk: string): ReadEvent[] {
    let text = this.rest + chunk
    // A final \r may be the first half of a \r\n: wait for the next chunk to tell.
    const held = text.endsWith('\r') ? '\r' : ''
    if (held !== '') text = text.slice(0, -1)
    const lines = text.split(/\r\n|\r|\n/)
    // The last piece has no line end yet (or is '' after a final newline).
    this.rest = (lines.pop() ?? '') + held
    const out: ReadEvent[] = []
    for (const line of lines) {
      if (line === '') {
        if (this.data.length > 0) out.push({ event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') })
        this.event = ''
        this.data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') this.event = value
      else if (field === 'data') this.data.push(value)
    }
    return out
  }
}
