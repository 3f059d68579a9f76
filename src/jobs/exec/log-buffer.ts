import { LOG_MAX_BYTES, LOG_MAX_LINE_BYTES, LOG_MAX_LINES } from './constants.js'

/** The log an attempt ends with: the newest lines, and whether older ones were dropped. */
export interface AttemptLog {
  lines: string[]
  /** True when lines were dropped (or a line was cut) to stay within the bounds. */
  truncated: boolean
}

export interface LogBounds { maxLines?: number, maxBytes?: number, maxLineBytes?: number }

/** Keeps the newest lines of a job's log within a line count and a byte budget. */
export class LogBuffer {
  private readonly lines: string[] = []
  private head = 0
  private bytes = 0
  private truncated = false
  private readonly maxLines: number
  private readonly maxBytes: number
  private readonly maxLineBytes: number

  constructor (bounds: LogBounds = {}) {
    this.maxLines = bounds.maxLines ?? LOG_MAX_LINES
    this.maxBytes = bounds.maxBytes ?? LOG_MAX_BYTES
    this.maxLineBytes = bounds.maxLineBytes ?? LOG_MAX_LINE_BYTES
  }

  /** Adds one line (cut to the line limit); returns the line as kept. */
  push (line: string): string {
    let kept = line
    if (Buffer.byteLength(kept) > this.maxLineBytes) {
      kept = Buffer.from(kept).subarray(0, this.maxLineBytes).toString().replace(/\uFFFD$/, '') + ' [cut]'
      this.truncated = true
    }
    this.lines.push(kept)
    this.bytes += Buffer.byteLength(kept)
    while (this.lines.length - this.head > this.maxLines || (this.bytes > this.maxBytes && this.lines.length - this.head > 1)) {
      this.bytes -= Buffer.byteLength(this.lines[this.head])
      this.head++
      this.truncated = true
    }
    // Compact now and then so dropped lines do not pile up.
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines.splice(0, this.head)
      this.head = 0
    }
    return kept
  }

  snapshot (): AttemptLog {
    return { lines: this.lines.slice(this.head), truncated: this.truncated }
  }
}

/**
 * Cuts a byte stream into lines (`\n` or `\r\n`); `end()` yields a last line
 * without a newline. A line longer than `maxLineBytes` is emitted in pieces,
 * so a stream without newlines cannot grow memory.
 */
export class LineSplitter {
  private pending = ''

  constructor (private readonly onLine: (line: string) => void, private readonly maxLineChars = LOG_MAX_LINE_BYTES) {}

  write (chunk: Buffer | string): void {
    this.pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    let nl = this.pending.indexOf('\n')
    while (nl !== -1) {
      this.onLine(this.pending.slice(0, nl).replace(/\r$/, ''))
      this.pending = this.pending.slice(nl + 1)
      nl = this.pending.indexOf('\n')
    }
    while (this.pending.length > this.maxLineChars) {
      this.onLine(this.pending.slice(0, this.maxLineChars))
      this.pending = this.pending.slice(this.maxLineChars)
    }
  }

  end (): void {
    if (this.pending.length > 0) this.onLine(this.pending.replace(/\r$/, ''))
    this.pending = ''
  }
}

/** Keeps the last `maxBytes` of a stream (a failed process's stderr). */
export class TailBuffer {
  private chunks: Buffer[] = []
  private size = 0

  constructor (private readonly maxBytes: number) {}

  write (chunk: Buffer): void {
    this.chunks.push(chunk)
    this.size += chunk.length
    while (this.size - this.chunks[0].length >= this.maxBytes) this.size -= this.chunks.shift()!.length
  }

  /** The tail as trimmed text, starting at a line boundary when one is near. */
  text (): string {
    const all = Buffer.concat(this.chunks)
    let text = all.subarray(Math.max(0, all.length - this.maxBytes)).toString('utf8')
    if (all.length > this.maxBytes) {
      const nl = text.indexOf('\n')
      if (nl !== -1 && nl < text.length - 1) text = text.slice(nl + 1)
    }
    return text.trim()
  }
}
