import { PmzError, isPmzError, notFound } from '../common/errors.js'
import type { Logger } from '../common/logger.js'
import type { Seed, SeedEvent } from '../seeds/index.js'
import type { Builtin } from './builtin.js'
import { CALL_TIMEOUT_MS, MAX_ERROR_MESSAGE } from './constants.js'
import { createExample } from './example.js'
import { createImageMatching } from './imagematching/imagematching-extension.js'
import type { ExtensionCall, ExtensionHandler, Extensions, ExtensionsComponents, ExtensionsInit } from './types.js'
import { createOcr } from './ocr/ocr-extension.js'
import { createSearch } from './search/search-extension.js'
import { seedStore, type SeedStore } from '../store/index.js'

interface Resolved { name: string, args: string[], handler: ExtensionHandler }

/**
 * Names to handlers. The first path segment picks a built-in when it names
 * one; otherwise the longest run of leading segments that names a seed's
 * extension wins (`/extension/demo/hello/x` runs seed `demo/hello` with
 * args `['x']`). Seeds come and go with the catalog's `seed:change` events.
 */
export class ExtensionRegistry implements Extensions {
  private readonly builtins = new Map<string, Builtin>()
  private readonly fromSeeds = new Map<string, ExtensionHandler>()
  private readonly log: Logger
  private readonly stopController = new AbortController()
  /** What every extension's ctx.store is: seeds are code from outside pmz, so their keys are checked as they come in. */
  private readonly store: SeedStore
  private maxSeedDepth = 0
  private unsubscribe: (() => void) | undefined
  private started = false
  private stopping: Promise<void> | undefined

  constructor (private readonly components: ExtensionsComponents, private readonly init: ExtensionsInit) {
    this.log = components.log
    this.store = seedStore(components.store)
    const child = (name: string): Logger => this.log.child({ extension: name })
    for (const b of [
      createSearch({ store: components.store, clock: components.clock, log: child('search') }),
      createOcr({ log: child('ocr') }, { workers: init.ocrWorkers }),
      createImageMatching({ store: components.store, log: child('imagematching'), gateways: components.gateways }, { maxImageBytes: init.maxImageBytes }),
      createExample()
    ]) this.builtins.set(b.name, b)
  }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    for (const b of this.builtins.values()) await b.start?.()
    this.unsubscribe = this.components.seeds.on('seed:change', e => { this.onSeed(e) })
    for (const seed of this.components.seeds.list()) this.register(seed)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.stopping ??= (async () => {
      this.stopController.abort(new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down'))
      this.unsubscribe?.()
      for (const b of this.builtins.values()) {
        try {
          await b.stop?.()
        } catch (err) {
          this.log.error({ err, extension: b.name }, 'extension failed to stop')
        }
      }
    })()
    return await this.stopping
  }

  names (): string[] {
    return [...this.builtins.keys(), ...[...this.fromSeeds.keys()].sort()]
  }

  async call (call: ExtensionCall, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    if (this.stopping !== undefined) throw new PmzError('ERR_SHUTTING_DOWN', 'peer is shutting down')
    const found = this.resolve(call.path)
    if (found === undefined) throw notFound('Wrong query, extension not found')
    const timeoutMs = this.init.callTimeoutMs ?? CALL_TIMEOUT_MS
    const ac = new AbortController()
    const timer = this.components.clock.setTimeout(() => {
      ac.abort(new PmzError('ERR_TIMEOUT', `extension ${found.name} took longer than ${timeoutMs} ms`))
    }, timeoutMs)
    const onStop = (): void => { ac.abort(this.stopController.signal.reason) }
    const onClientGone = (): void => { ac.abort(new PmzError('ERR_ABORTED', 'the client went away')) }
    this.stopController.signal.addEventListener('abort', onStop, { once: true })
    options.signal?.addEventListener('abort', onClientGone, { once: true })
    if (options.signal?.aborted === true) onClientGone()
    const ctx = { store: this.store, log: this.log.child({ extension: found.name }), signal: ac.signal, method: call.method, baseUrl: call.baseUrl }
    try {
      const running = (async () => await found.handler(found.args, call.params, call.body, ctx))()
      return await untilAborted(running, ac.signal)
    } catch (err) {
      if (ac.signal.aborted && isPmzError(ac.signal.reason)) throw ac.signal.reason
      throw asExtensionError(err, found.name)
    } finally {
      timer.cancel()
      this.stopController.signal.removeEventListener('abort', onStop)
      options.signal?.removeEventListener('abort', onClientGone)
    }
  }

  private resolve (path: string[]): Resolved | undefined {
    if (path.length === 0) return undefined
    const builtin = this.builtins.get(path[0])
    if (builtin !== undefined) return { name: builtin.name, args: path.slice(1), handler: builtin.handle }
    for (let n = Math.min(path.length, this.maxSeedDepth); n >= 1; n--) {
      const name = path.slice(0, n).join('/')
      const handler = this.fromSeeds.get(name)
      if (handler !== undefined) return { name, args: path.slice(n), handler }
    }
    return undefined
  }

  private onSeed (e: SeedEvent): void {
    if (e.type === 'removed') this.withdraw(e.seed.name)
    else this.register(e.seed)
  }

  private register (seed: Seed): void {
    const handler = extensionOf(seed)
    if (handler === undefined) {
      this.withdraw(seed.name)
      return
    }
    if (this.builtins.has(seed.name.split('/')[0])) {
      this.log.warn({ seed: seed.name }, 'seed extension not served: its name starts with a built-in extension name')
      return
    }
    const isNew = !this.fromSeeds.has(seed.name)
    this.fromSeeds.set(seed.name, handler)
    this.maxSeedDepth = Math.max(this.maxSeedDepth, seed.name.split('/').length)
    this.log.info({ extension: seed.name, hash: seed.hash.slice(0, 12) }, isNew ? 'extension registered' : 'extension reloaded')
  }

  private withdraw (name: string): void {
    if (!this.fromSeeds.delete(name)) return
    this.maxSeedDepth = Math.max(0, ...[...this.fromSeeds.keys()].map(n => n.split('/').length))
    this.log.info({ extension: name }, 'extension withdrawn')
  }
}

/** A seed's `extension` export (named, or a property of its default export) when it is a function. */
export function extensionOf (seed: Seed): ExtensionHandler | undefined {
  const exports = seed.exports
  if (exports === undefined) return undefined
  const candidate = exports.extension ?? (exports.default as Record<string, unknown> | undefined)?.extension
  return typeof candidate === 'function' ? candidate as ExtensionHandler : undefined
}

/** Resolves with `work`, or rejects with the signal's reason as soon as it aborts (the work itself cannot be cancelled). */
async function untilAborted<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  work.catch(() => {}) // a late failure after an abort must not become an unhandled rejection
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort as () => void)
  }
}

/** An extension's failure as the gateway shows it: PmzErrors as they are, anything else by its message, never its stack. */
export function asExtensionError (err: unknown, name: string): PmzError {
  if (isPmzError(err)) return err
  const e = err as { message?: unknown, status?: unknown, statusCode?: unknown }
  const raw = typeof e?.message === 'string' && e.message !== '' ? e.message : typeof err === 'string' && err !== '' ? err : `extension ${name} failed`
  const message = raw.split('\n')[0].slice(0, MAX_ERROR_MESSAGE)
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : 500
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    return new PmzError('ERR_BAD_REQUEST', message, { status, details: { extension: name } })
  }
  return new PmzError('ERR_INTERNAL', message, { cause: err, details: { extension: name } })
}
