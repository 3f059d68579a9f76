import { afterEach, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { createExtensions, type ExtensionCall, type ExtensionHandler, type Extensions } from '../../../src/extensions/index.js'
import { asExtensionError } from '../../../src/extensions/registry.js'
import type { Seed, SeedCatalog, SeedEvent } from '../../../src/seeds/index.js'
import type { KeyChange, Store } from '../../../src/store/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'

const log = createLogger({ level: 'silent' })

/** A catalog the test fills by hand. */
class FakeCatalog implements SeedCatalog {
  private readonly seeds = new Map<string, Seed>()
  private readonly listeners = new Set<(e: SeedEvent) => void>()
  async start (): Promise<void> {}
  async stop (): Promise<void> {}
  async refresh (): Promise<void> {}
  list (): Seed[] { return [...this.seeds.values()] }
  get (name: string): Seed | undefined { return this.seeds.get(name) }
  on (_e: 'seed:change', fn: (e: SeedEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  put (name: string, exports: Record<string, unknown>): void {
    const previous = this.seeds.get(name)
    const seed: Seed = { name, path: `/seeds/${name}.mjs`, kind: 'module', hash: `h${Math.random()}`, size: 1, mtimeMs: 1, exports }
    this.seeds.set(name, seed)
    for (const fn of this.listeners) fn(previous === undefined ? { type: 'added', seed } : { type: 'changed', seed, previous })
  }

  remove (name: string): void {
    const seed = this.seeds.get(name) as Seed
    this.seeds.delete(name)
    for (const fn of this.listeners) fn({ type: 'removed', seed })
  }
}

/** Just enough of a Store for the search index to build (an empty one). */
function emptyStore (): Store {
  return {
    on: (_e: 'key:change', _fn: (c: KeyChange) => void) => () => {},
    list: async () => [],
    start: async () => {},
    stop: async () => {}
  } as unknown as Store
}

const call = (path: string, method: 'GET' | 'PUT' = 'GET'): ExtensionCall => ({ path: path.split('/'), params: { p: ['1'] }, method, baseUrl: 'http://x' })

async function failure (p: Promise<unknown>): Promise<{ code: string, status: number, message: string }> {
  try {
    await p
  } catch (err) {
    if (!isPmzError(err)) throw err
    return { code: err.code, status: err.status, message: err.message }
  }
  throw new Error('expected a failure')
}

describe('extension registry', () => {
  const running: Extensions[] = []
  afterEach(async () => { for (const e of running.splice(0)) await e.stop() })

  async function setup (callTimeoutMs = 60_000): Promise<{ ext: Extensions, seeds: FakeCatalog, clock: ManualClock }> {
    const seeds = new FakeCatalog()
    const clock = new ManualClock()
    const ext = createExtensions({ store: emptyStore(), seeds, clock, log }, { callTimeoutMs, ocrWorkers: 1 })
    await ext.start()
    running.push(ext)
    return { ext, seeds, clock }
  }

  it('serves seeds by their full name, the longest name that prefixes the path winning', async () => {
    const { ext, seeds } = await setup()
    const echo = (tag: string): ExtensionHandler => (args, params, body, ctx) => ({ tag, args, params, body: body?.toString() ?? null, method: ctx.method })
    seeds.put('demo', { extension: echo('demo') })
    seeds.put('demo/hello', { default: { extension: echo('demo/hello') } })
    seeds.put('job', { run: () => 1 })
    expect(ext.names()).toEqual(['search', 'ocr', 'imagematching', 'example', 'demo', 'demo/hello'])
    expect(await ext.call(call('demo/hello/a/b.c'))).toEqual({ tag: 'demo/hello', args: ['a', 'b.c'], params: { p: ['1'] }, body: null, method: 'GET' })
    expect(await ext.call(call('demo/other'))).toMatchObject({ tag: 'demo', args: ['other'] })
    expect(await ext.call({ ...call('demo', 'PUT'), body: Buffer.from('hi') })).toMatchObject({ body: 'hi', method: 'PUT' })
    expect(await failure(ext.call(call('job')))).toMatchObject({ code: 'ERR_NOT_FOUND', status: 404, message: 'Wrong query, extension not found' })
    expect(await failure(ext.call({ ...call(''), path: [] }))).toMatchObject({ status: 404 })
  })

  it('reloads a changed seed and withdraws a removed one', async () => {
    const { ext, seeds } = await setup()
    seeds.put('v', { extension: () => 1 })
    expect(await ext.call(call('v'))).toBe(1)
    seeds.put('v', { extension: () => 2 })
    expect(await ext.call(call('v'))).toBe(2)
    seeds.put('v', { run: () => 3 }) // no longer an extension
    expect(await failure(ext.call(call('v')))).toMatchObject({ status: 404 })
    seeds.put('v', { extension: () => 4 })
    seeds.remove('v')
    expect(await failure(ext.call(call('v')))).toMatchObject({ status: 404 })
  })

  it('keeps built-in names for the built-ins', async () => {
    const { ext, seeds } = await setup()
    seeds.put('search', { extension: () => 'hijacked' })
    seeds.put('search/deeper', { extension: () => 'hijacked' })
    seeds.put('example/hello', { extension: () => 'hijacked' })
    expect(await ext.call(call('search/anything'))).toEqual([])
    expect(await ext.call(call('example/hello/x'))).toEqual({ my_arg: ['hello', 'x'], my_params: { p: ['1'] } })
    expect(ext.names()).toEqual(['search', 'ocr', 'imagematching', 'example'])
  })

  it('turns a throw into a short message: 500, or the 4xx status the error carries', async () => {
    const { ext, seeds } = await setup()
    seeds.put('boom', { extension: () => { throw new Error('boom\n    at secret/stack.js:1:1') } })
    seeds.put('picky', { extension: async () => { throw Object.assign(new Error('bad size'), { status: 422 }) } })
    seeds.put('weird', { extension: () => { throw 'a string' } })
    expect(await failure(ext.call(call('boom')))).toEqual({ code: 'ERR_INTERNAL', status: 500, message: 'boom' })
    expect(await failure(ext.call(call('picky')))).toEqual({ code: 'ERR_BAD_REQUEST', status: 422, message: 'bad size' })
    expect(await failure(ext.call(call('weird')))).toEqual({ code: 'ERR_INTERNAL', status: 500, message: 'a string' })
    expect(asExtensionError({}, 'x').message).toBe('extension x failed')
    expect(asExtensionError(new Error('x'.repeat(1000)), 'x').message).toHaveLength(300)
  })

  it('answers 504 when an extension outlives its deadline, and aborts its signal', async () => {
    const { ext, seeds, clock } = await setup(1000)
    let signal: AbortSignal | undefined
    seeds.put('slow', { extension: async (_a: string[], _p: unknown, _b: unknown, ctx: { signal: AbortSignal }) => { signal = ctx.signal; return await new Promise(() => {}) } })
    const pending = failure(ext.call(call('slow')))
    await clock.advanceAsync(1000)
    expect(await pending).toMatchObject({ code: 'ERR_TIMEOUT', status: 504 })
    expect(signal?.aborted).toBe(true)
  })

  it('stops waiting when the client goes away or the peer stops, and refuses calls once stopping', async () => {
    const { ext, seeds } = await setup()
    seeds.put('hang', { extension: async () => await new Promise(() => {}) })
    const client = new AbortController()
    const gone = failure(ext.call(call('hang'), { signal: client.signal }))
    client.abort()
    expect(await gone).toMatchObject({ code: 'ERR_ABORTED' })
    const stopped = failure(ext.call(call('hang')))
    await ext.stop()
    expect(await stopped).toMatchObject({ code: 'ERR_SHUTTING_DOWN', status: 503 })
    expect(await failure(ext.call(call('hang')))).toMatchObject({ code: 'ERR_SHUTTING_DOWN' })
  })
})
