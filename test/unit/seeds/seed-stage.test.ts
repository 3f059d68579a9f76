import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/common/logger.js'
import { createSeedCatalog } from '../../../src/seeds/index.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { mergeCatalogs } from '../../../src/seeds/catalog-merge.js'
import { digestOf, parseCatalogReply } from '../../../src/seeds/catalog-messages.js'
import type { CatalogEntry, Seed } from '../../../src/seeds/index.js'
import { LocalEntries } from '../../../src/seeds/local-entries.js'
import { EMPTY_META } from '../../../src/seeds/seed-meta.js'
import { isStageDecl, moduleStage, sidecarStage, stageEventHandlers, stageRunOf } from '../../../src/seeds/seed-stage.js'

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const run = (): null => null
async function * gen (): AsyncGenerator<number> { yield 1 }

describe('a module\'s pipeline declaration', () => {
  it('is absent for a module that neither consumes nor is a source', () => {
    expect(moduleStage({ run, retries: 2 })).toEqual({ ok: true })
    expect(moduleStage(undefined)).toEqual({ ok: true })
    // Plain jobs may export anything else, even names the stage reader knows.
    expect(moduleStage({ run, events: [1, 2], onThing: 3 })).toEqual({ ok: true })
  })

  it('reads consumes (a tag or a list), produces and the numbers; named exports win over the default object', () => {
    expect(moduleStage({ consumes: 'greet', produces: 'extract', run, maxInstances: 2, idleMs: 500, retries: 0, inbox: 10 })).toEqual({
      ok: true, stage: { consumes: ['greet'], produces: 'extract', source: false, events: [], maxInstances: 2, idleMs: 500, retries: 0, inbox: 10 }
    })
    expect(moduleStage({ default: { consumes: ['a', 'b', 'a'], run, inbox: 5 }, inbox: 7 })).toEqual({
      ok: true, stage: { consumes: ['a', 'b'], source: false, events: [], inbox: 7 }
    })
    // Where its instances run: a worker thread or a child process.
    expect(moduleStage({ consumes: 'x', run, isolation: 'process' })).toMatchObject({ ok: true, stage: { isolation: 'process' } })
    expect(moduleStage({ default: { consumes: 'x', run, isolation: 'thread' } })).toMatchObject({ ok: true, stage: { isolation: 'thread' } })
    // A default function is the run of a stage too.
    expect(moduleStage({ default: run, consumes: 'x' })).toMatchObject({ ok: true, stage: { consumes: ['x'] } })
  })

  it('marks a source, which must declare what it produces', () => {
    expect(moduleStage({ source: gen, produces: 'numbers' })).toEqual({ ok: true, stage: { consumes: [], produces: 'numbers', source: true, events: [] } })
    expect(moduleStage({ source: gen })).toEqual({ ok: false, error: 'a source must declare what it produces' })
    expect(moduleStage({ source: 'yes', produces: 'n' })).toEqual({ ok: false, error: 'source must be an async generator function' })
  })

  it('lists custom events from on{Event} exports and an events map, lower-cased, without lifecycle ones', () => {
    const checked = moduleStage({ consumes: 'x', run, onFlushCache: run, onStop: run, onlyData: 1, events: { Reload: run }, default: { onReset: run } })
    expect(checked).toMatchObject({ ok: true, stage: { events: ['flushcache', 'reload', 'reset'] } })
    expect([...stageEventHandlers({ onA: run, events: { b: gen }, default: { events: { C: run } } }).keys()].sort()).toEqual(['a', 'b', 'c'])
  })

  it('refuses a declaration it cannot use, saying why', () => {
    expect(moduleStage({ consumes: 'x' })).toEqual({ ok: false, error: 'a stage that consumes must export run(packet, ctx)' })
    expect(moduleStage({ consumes: 'bad tag', run })).toMatchObject({ ok: false, error: expect.stringContaining('consumes must be a tag') })
    expect(moduleStage({ consumes: [], run })).toEqual({ ok: false, error: 'a stage must consume at least one tag, or be a source' })
    expect(moduleStage({ consumes: 'x', produces: 7, run })).toMatchObject({ ok: false })
    expect(moduleStage({ consumes: 'x', produces: '../up', run })).toEqual({ ok: false, error: 'produces must be a tag (letters, digits, ._:-)' })
    expect(moduleStage({ produces: 'y', run })).toEqual({ ok: false, error: 'produces needs consumes or a source' })
    expect(moduleStage({ consumes: 'x', run, maxInstances: 0 })).toEqual({ ok: false, error: 'maxInstances must be an integer from 1 to 1024' })
    expect(moduleStage({ consumes: 'x', run, inbox: 1.5 })).toMatchObject({ ok: false })
    expect(moduleStage({ consumes: 'x', run, events: { a: 1 } })).toEqual({ ok: false, error: 'events must map event names to functions' })
    expect(moduleStage({ consumes: 'x', run, events: { 'with space': run } })).toMatchObject({ ok: false })
    expect(moduleStage({ consumes: Array.from({ length: 65 }, (_, i) => `t${i}`), run })).toMatchObject({ ok: false })
    expect(moduleStage({ consumes: 'x', run, isolation: 'vm' })).toEqual({ ok: false, error: 'isolation must be one of thread, process' })
  })

  it('finds run as a named export, the default object\'s method or a default function', () => {
    const obj = { n: 2, run (this: { n: number }) { return this.n } }
    expect(stageRunOf({ default: obj })?.()).toBe(2)
    expect(stageRunOf({ run })).toBe(run)
    expect(stageRunOf({ default: run })).toBe(run)
    expect(stageRunOf({ other: run })).toBeUndefined()
  })
})

describe('an executable\'s pipeline declaration', () => {
  it('comes from its sidecar; it can be neither a source nor handle events', () => {
    expect(sidecarStage({ description: 'd', consumes: 'in', produces: 'out', retries: 1 })).toEqual({ ok: true, stage: { consumes: ['in'], produces: 'out', source: false, events: [], retries: 1 } })
    expect(sidecarStage({ description: 'not a stage' })).toEqual({ ok: true })
    expect(sidecarStage({ consumes: 'in', source: true, produces: 'out' })).toMatchObject({ ok: false, error: expect.stringContaining('cannot be a source') })
    expect(sidecarStage({ consumes: 'in', events: ['x'] })).toMatchObject({ ok: false, error: expect.stringContaining('cannot handle events') })
    expect(sidecarStage({ consumes: 'in', source: false, events: [] })).toMatchObject({ ok: true, stage: { consumes: ['in'] } })
  })
})

describe('the catalog carries a seed\'s pipeline declaration', () => {
  const entry = (name: string, extra: Partial<CatalogEntry> = {}): CatalogEntry => ({ name, kind: 'module', hash: 'h', meta: { ...EMPTY_META }, ...extra })

  it('checks a gossiped declaration like the rest of an entry', () => {
    expect(isStageDecl({ consumes: ['a'], source: false, events: ['flush'], produces: 'b', inbox: 3 })).toBe(true)
    expect(isStageDecl({ consumes: [], source: true, events: [], produces: 'b' })).toBe(true)
    expect(isStageDecl({ consumes: [], source: false, events: [] })).toBe(false)
    expect(isStageDecl({ consumes: ['a'], source: false, events: ['Flush'] })).toBe(false)
    expect(isStageDecl({ consumes: ['a'], source: false, events: [], evil: 1 })).toBe(false)
    expect(isStageDecl({ consumes: ['a'], source: false, events: [], isolation: 'process' })).toBe(true)
    expect(isStageDecl({ consumes: ['a'], source: false, events: [], isolation: 'cage' })).toBe(false)
    expect(isStageDecl({ consumes: ['a', 'a'], source: false, events: [] })).toBe(false)
    expect(isStageDecl({ consumes: 'a', source: false, events: [] })).toBe(false)
    const reply = (entries: unknown[]): unknown => ({ type: 'seeds.catalog-reply', v: 1, digest: digestOf([]), entries })
    const good = entry('s', { pipeline: { consumes: ['a'], source: false, events: [] } })
    expect(parseCatalogReply(reply([good]))).toMatchObject({ ok: true })
    expect(parseCatalogReply(reply([{ ...good, pipeline: { consumes: ['a b'], source: false, events: [] } }]))).toEqual({ ok: false, reason: 'malformed seeds.catalog entry 0' })
  })

  it('merges the main version\'s declaration into the cluster seed', () => {
    const pipeline = { consumes: ['greet'], produces: 'extract', source: false, events: [] }
    const [seed, plain] = mergeCatalogs(new Map([['p1', [entry('greet', { pipeline }), entry('job')]], ['p2', [entry('greet', { pipeline })]]]))
    expect(seed).toMatchObject({ name: 'greet', pipeline, peers: ['p1', 'p2'], launchable: true })
    expect(plain.pipeline).toBeUndefined()
  })

  it('describes a module\'s and a sidecar\'s declaration; a bad one is the seed\'s error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmz-stage-'))
    dirs.push(dir)
    const exe = (name: string, sidecar: unknown): void => {
      writeFileSync(join(dir, `${name}.sh`), '#!/bin/sh\ncat\n')
      chmodSync(join(dir, `${name}.sh`), 0o755)
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(sidecar))
    }
    exe('upper', { description: 'Upper-cases', consumes: ['text'], produces: 'upper', maxInstances: 2 })
    exe('badexe', { consumes: 'text', source: true })
    const seed = (name: string, kind: Seed['kind'], exports?: Record<string, unknown>): Seed =>
      ({ name, path: join(dir, kind === 'module' ? `${name}.mjs` : `${name}.sh`), kind, hash: 'h', size: 1, mtimeMs: 1, ...(exports !== undefined ? { exports } : {}) })
    const entries = await new LocalEntries(createLogger({ level: 'silent' })).describe([
      seed('badexe', 'executable'),
      seed('badmod', 'module', { consumes: 'x', run, idleMs: -1 }),
      seed('greet', 'module', { consumes: 'greet', produces: 'extract', run, onFlush: run }),
      seed('job', 'module', { run }),
      seed('upper', 'executable')
    ])
    expect(entries.map(e => [e.name, e.pipeline, e.error])).toEqual([
      ['badexe', undefined, 'bad pipeline declaration in badexe.json: an executable cannot be a source (only a module exporting an async generator can)'],
      ['badmod', undefined, 'bad pipeline declaration: idleMs must be an integer from 1 to 604800000'],
      ['greet', { consumes: ['greet'], produces: 'extract', source: false, events: ['flush'] }, undefined],
      ['job', undefined, undefined],
      ['upper', { consumes: ['text'], produces: 'upper', source: false, events: [], maxInstances: 2 }, undefined]
    ])
    // A bad declaration makes the seed unlaunchable, as bad limits do.
    const merged = mergeCatalogs(new Map([['p1', entries]]))
    expect(merged.find(s => s.name === 'badmod')).toMatchObject({ launchable: false, error: expect.stringContaining('bad pipeline declaration') })
  })
  it('reads the declaration of a real module file, as the seeds catalog loads it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pmz-stage-'))
    dirs.push(dir)
    writeFileSync(join(dir, 'greet.mjs'), [
      "export default { consumes: 'greet', produces: 'extract', maxInstances: 2, run (p) { return 'Hello ' + p.payload }, events: { Reset () {} } }",
      'export async function * source () {}'
    ].join('\n'))
    const catalog = createSeedCatalog({ clock: new ManualClock(), log: createLogger({ level: 'silent' }) }, { dir, watch: false })
    await catalog.start()
    try {
      const [entry] = await new LocalEntries(createLogger({ level: 'silent' })).describe(catalog.list())
      expect(entry.pipeline).toEqual({ consumes: ['greet'], produces: 'extract', source: true, events: ['reset'], maxInstances: 2 })
    } finally {
      await catalog.stop()
    }
  })
})
