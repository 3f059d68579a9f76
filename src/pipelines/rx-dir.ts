import { watch, type FSWatcher } from 'node:fs'
import { access, mkdir, readFile, readdir, rename, stat } from 'node:fs/promises'
import { extname, join } from 'node:path'
import type { Clock, Timer } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { InjectOptions, Payload } from './types.js'

/** How often the rx directory is rescanned even when no file-system event arrived, in ms. */
export const RX_POLL_INTERVAL_MS = 2000
/** How long a file's size and mtime must stay the same, seen by two scans, before it is taken, in ms. */
export const RX_SETTLE_MS = 300
/** Quiet time after a file-system event before rescanning, in ms. */
export const RX_DEBOUNCE_MS = 75
/** First wait before injecting a file again after a failed inject, in ms; doubles up to RX_RETRY_MAX_MS. */
export const RX_RETRY_MIN_MS = 1000
export const RX_RETRY_MAX_MS = 30_000
/** Files being injected at once (an inject waits while the stages are full). */
export const RX_MAX_IN_FLIGHT = 64
/** The directory taken files move to; not a tag. */
export const RX_DONE = 'done'

/** The rx directory (Pumpkin's): files dropped into `{dir}/{tag}/` become packets. */
export interface RxDir extends Startable {
  /** One pass over the directory (the timers call it; tests too). */
  scan(): Promise<void>
}

export interface RxDirComponents {
  /** Sends a packet into the pipeline (PipelineService.inject); the rx directory asks it to resolve once the packet was processed and handed on. */
  inject: (tag: string, payload: Payload, options?: InjectOptions) => Promise<string>
  clock: Clock
  log: Logger
}

export interface RxDirInit {
  dir: string
  /** @default RX_POLL_INTERVAL_MS */
  pollIntervalMs?: number
  /** @default RX_SETTLE_MS */
  settleMs?: number
  /** @default RX_DEBOUNCE_MS */
  debounceMs?: number
  /** @default RX_RETRY_MIN_MS */
  retryMinMs?: number
  /** @default RX_RETRY_MAX_MS */
  retryMaxMs?: number
  /** @default RX_MAX_IN_FLIGHT */
  maxInFlight?: number
  /** Watch with fs.watch besides polling. @default true */
  watch?: boolean
}

/**
 * Not taken: dot-files and `.tmp`/`.part` files (a writer renames them when
 * done); the rest waits until its size and mtime held for a settle time.
 */
export function isSkippedName (name: string): boolean {
  return name.startsWith('.') || /\.(tmp|part)$/i.test(name)
}

/** The n-th name tried in `done/` for `name`: `a.json`, `a-1.json`, `a-2.json`... */
export function doneName (name: string, n: number): string {
  if (n === 0) return name
  const ext = extname(name)
  return `${name.slice(0, name.length - ext.length)}-${n}${ext}`
}

/** What is known of one file of `{tag}/`. */
interface Tracked {
  size: number
  mtimeMs: number
  /** When this size and mtime were first seen. */
  since: number
  state: 'waiting' | 'injecting' | 'injected' | 'bad'
  failures: number
  retryAt: number
}

export function createRxDir (components: RxDirComponents, init: RxDirInit): RxDir {
  return new WatchingRxDir(components, init)
}

/**
 * Polls the directory and, with fs.watch, rescans soon after a change (the
 * seeds catalog's way). A file is injected once its size and mtime held for
 * `settleMs` across two scans, and moved to `done/` (its name kept, made
 * unique on a clash) only after the inject resolved: a failed inject leaves
 * it in place, tried again with backoff. A move that fails is retried by
 * later scans without injecting again.
 */
class WatchingRxDir implements RxDir {
  private readonly files = new Map<string, Tracked>()
  private readonly log: Logger
  private readonly clock: Clock
  private watcher: FSWatcher | undefined
  private pollTimer: Timer | undefined
  private soonTimer: Timer | undefined
  private soonAt = Infinity
  private scanning: Promise<void> | undefined
  private queued: Promise<void> | undefined
  private moving: Promise<void> = Promise.resolve()
  private inFlight = 0
  private started = false
  private stopped = false

  constructor (private readonly c: RxDirComponents, private readonly init: RxDirInit) {
    this.log = c.log
    this.clock = c.clock
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await mkdir(join(this.init.dir, RX_DONE), { recursive: true })
    if (this.init.watch !== false) {
      try {
        this.watcher = watch(this.init.dir, { recursive: true, persistent: false }, () => { this.soon(this.init.debounceMs ?? RX_DEBOUNCE_MS) })
        this.watcher.on('error', err => { this.log.debug({ err }, 'rx watcher failed; polling only') })
      } catch (err) {
        this.log.debug({ err }, 'cannot watch the rx directory; polling only')
      }
    }
    this.pollTimer = this.clock.setInterval(() => { this.trigger() }, this.init.pollIntervalMs ?? RX_POLL_INTERVAL_MS)
    this.trigger()
    this.log.info({ dir: this.init.dir }, 'rx directory watched')
  }

  async stop (): Promise<void> {
    if (!this.started || this.stopped) return
    this.stopped = true
    this.pollTimer?.cancel()
    this.soonTimer?.cancel()
    try { this.watcher?.close() } catch {}
    // Injects in flight go on: once one resolves its file still moves to done/.
    await this.queued?.catch(() => {})
    await this.scanning?.catch(() => {})
  }

  /** One scan at a time; a call during a scan queues exactly one more. */
  async scan (): Promise<void> {
    if (this.scanning === undefined) {
      this.scanning = this.pass().finally(() => { this.scanning = undefined })
      return await this.scanning
    }
    this.queued ??= this.scanning.catch(() => {}).then(async () => {
      this.queued = undefined
      await this.scan()
    })
    return await this.queued
  }

  private trigger (): void {
    if (this.stopped) return
    this.scan().catch(err => this.log.warn({ err, dir: this.init.dir }, 'rx scan failed'))
  }

  /** A scan after `ms` (a file-system event, a file settling, a retry due), unless one is due sooner. */
  private soon (ms: number): void {
    const at = this.clock.now() + ms
    if (this.stopped || at >= this.soonAt) return
    this.soonTimer?.cancel()
    this.soonAt = at
    this.soonTimer = this.clock.setTimeout(() => {
      this.soonAt = Infinity
      this.trigger()
    }, ms)
  }

  private async pass (): Promise<void> {
    const seen = new Set<string>()
    let next = Infinity
    for (const tag of await subdirs(this.init.dir)) {
      for (const name of await entries(join(this.init.dir, tag))) {
        if (this.stopped) return
        const rel = `${tag}/${name}`
        const st = await stat(join(this.init.dir, rel)).catch(() => undefined)
        if (st?.isFile() !== true) continue
        seen.add(rel)
        const decision = this.observe(rel, st.size, st.mtimeMs)
        if (decision === 'take') await this.take(tag, name)
        else if (decision === 'move') this.moveDone(tag, name)
        else next = Math.min(next, decision)
      }
    }
    for (const [rel, t] of this.files) if (!seen.has(rel) && t.state !== 'injecting') this.files.delete(rel)
    if (next !== Infinity) this.soon(Math.max(0, next - this.clock.now()))
  }

  /** Decides on one file of a scan: take it, move it, or when to look again (Infinity: no hurry). */
  private observe (rel: string, size: number, mtimeMs: number): 'take' | 'move' | number {
    const now = this.clock.now()
    const settleMs = this.init.settleMs ?? RX_SETTLE_MS
    const t = this.files.get(rel)
    if (t === undefined || ((t.state === 'waiting' || t.state === 'bad') && (t.size !== size || t.mtimeMs !== mtimeMs))) {
      this.files.set(rel, { size, mtimeMs, since: now, state: 'waiting', failures: t?.failures ?? 0, retryAt: t?.retryAt ?? 0 })
      return now + settleMs
    }
    if (t.state === 'injected') return 'move'
    if (t.state !== 'waiting') return Infinity
    if (now - t.since < settleMs) return t.since + settleMs
    if (now < t.retryAt) return t.retryAt
    // Full: the next inject to end calls for a scan.
    if (this.inFlight >= (this.init.maxInFlight ?? RX_MAX_IN_FLIGHT)) return Infinity
    return 'take'
  }

  /** Reads the file (within the scan) and starts its inject (which may wait on back-pressure: not awaited). */
  private async take (tag: string, name: string): Promise<void> {
    const rel = `${tag}/${name}`
    const t = this.files.get(rel) as Tracked
    let payload: Payload
    try {
      const bytes = await readFile(join(this.init.dir, rel))
      if (name.toLowerCase().endsWith('.json')) {
        try {
          payload = JSON.parse(bytes.toString('utf8'))
        } catch (err) {
          // Left alone until it changes: injecting it again would fail the same way.
          t.state = 'bad'
          this.log.warn({ file: rel, error: (err as Error).message }, 'rx file is not JSON; fix or rename it')
          return
        }
      } else {
        payload = bytes
      }
    } catch (err) {
      this.files.delete(rel) // gone since the scan (ENOENT) or unreadable: the next scan sees it afresh
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: rel, err }, 'rx file unreadable')
      return
    }
    t.state = 'injecting'
    this.inFlight++
    this.send(tag, name, t, payload)
      .catch(err => this.log.error({ err, file: rel }, 'rx inject handling failed'))
      .finally(() => {
        this.inFlight--
        this.soon(0)
      })
  }

  private async send (tag: string, name: string, t: Tracked, payload: Payload): Promise<void> {
    const rel = `${tag}/${name}`
    let id: string
    try {
      id = await this.c.inject(tag, payload, { headers: { filename: name }, until: 'acked' })
    } catch (err) {
      t.failures++
      const wait = Math.min((this.init.retryMinMs ?? RX_RETRY_MIN_MS) * 2 ** (t.failures - 1), this.init.retryMaxMs ?? RX_RETRY_MAX_MS)
      t.retryAt = this.clock.now() + wait
      t.state = 'waiting'
      const fields = { file: rel, tag, failures: t.failures, retryInMs: wait, error: (err as Error).message }
      if (t.failures === 1) this.log.warn(fields, 'rx inject failed; will retry')
      else this.log.debug(fields, 'rx inject failed again')
      return
    }
    t.state = 'injected'
    this.log.debug({ file: rel, tag, id }, 'rx file injected')
    this.moveDone(tag, name)
  }

  /** Moves an injected file to done/ under a free name; moves run one at a time so two never pick the same name. */
  private moveDone (tag: string, name: string): void {
    const rel = `${tag}/${name}`
    this.moving = this.moving.then(async () => {
      const t = this.files.get(rel)
      if (t?.state !== 'injected') return
      const done = join(this.init.dir, RX_DONE)
      for (let n = 0; ; n++) {
        const to = join(done, doneName(name, n))
        if (await access(to).then(() => true, () => false)) continue
        await mkdir(done, { recursive: true })
        await rename(join(this.init.dir, rel), to)
        this.files.delete(rel)
        return
      }
    }).catch(err => {
      // Injected already: later scans retry the move, never the inject.
      this.log.warn({ err, file: rel }, 'rx file injected but not moved to done/; will retry')
    })
  }
}

/** Tag directories: every directory of `dir` but done/ and dot-directories. */
async function subdirs (dir: string): Promise<string[]> {
  const list = await readdir(dir, { withFileTypes: true }).catch(() => [])
  return list.filter(d => d.isDirectory() && d.name !== RX_DONE && !d.name.startsWith('.')).map(d => d.name).sort()
}

/** Candidate files of a tag directory, by name. */
async function entries (dir: string): Promise<string[]> {
  const list = await readdir(dir, { withFileTypes: true }).catch(() => [])
  return list.filter(d => (d.isFile() || d.isSymbolicLink()) && !isSkippedName(d.name)).map(d => d.name).sort()
}
