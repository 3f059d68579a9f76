import { copyFileSync, mkdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { createSeedCatalog, type SeedCatalog, type SeedEvent } from '../../../src/seeds/index.js'
import { kindOf, scanSeeds, seedNameOf } from '../../../src/seeds/seed-files.js'
import { waitFor } from '../../helpers/http.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { REPO, cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const FIXTURES = join(REPO, 'test/fixtures/seeds')

describe('seed names and kinds', () => {
  it('names a seed by its path without the extension', () => {
    expect(seedNameOf('example/factorial.mjs')).toBe('example/factorial')
    expect(seedNameOf('hello.v2.mjs')).toBe('hello.v2')
    expect(seedNameOf('bin/run')).toBe('bin/run')
  })

  it('tells modules, Pulzar scripts and executables from data files', () => {
    expect(kindOf('/s/a.mjs', 0o644)).toBe('module')
    expect(kindOf('/s/a.ts', 0o644)).toBe('module')
    expect(kindOf('/s/a.py', 0o644)).toBe('python')
    expect(kindOf('/s/run.sh', 0o755)).toBe('executable')
    expect(kindOf('/s/README.md', 0o644)).toBeUndefined()
    expect(kindOf('/s/data.json', 0o644)).toBeUndefined()
  })

  it('scans recursively, skipping hidden entries and node_modules, and reports name clashes', async () => {
    const dir = tempDir('pmz-seeds-')
    mkdirSync(join(dir, 'example/deep'), { recursive: true })
    mkdirSync(join(dir, 'node_modules/x'), { recursive: true })
    writeFileSync(join(dir, 'example/deep/a.mjs'), 'export const run = () => 1\n')
    writeFileSync(join(dir, 'hello.mjs'), '')
    writeFileSync(join(dir, 'hello.py'), '')
    writeFileSync(join(dir, '.hidden.mjs'), '')
    writeFileSync(join(dir, 'node_modules/x/index.mjs'), '')
    writeFileSync(join(dir, 'notes.txt'), '')
    writeFileSync(join(dir, 'tool'), '#!/bin/sh\n')
    chmodSync(join(dir, 'tool'), 0o755)
    const { files, shadowed } = await scanSeeds(dir)
    expect([...files.keys()].sort()).toEqual(['example/deep/a', 'hello', 'tool'])
    expect(files.get('hello')?.path).toBe(join(dir, 'hello.mjs'))
    expect(files.get('tool')?.kind).toBe('executable')
    expect(shadowed).toEqual([join(dir, 'hello.py')])
    expect((await scanSeeds(join(dir, 'missing'))).files.size).toBe(0)
  })
})

describe('SeedCatalog', () => {
  const open: SeedCatalog[] = []
  afterEach(async () => {
    for (const c of open.splice(0)) await c.stop()
    await cleanupPeers()
  })

  async function makeCatalog (dir: string, watch = false): Promise<{ catalog: SeedCatalog, events: SeedEvent[] }> {
    const catalog = createSeedCatalog({ clock: new ManualClock(), log }, { dir, watch })
    const events: SeedEvent[] = []
    catalog.on('seed:change', e => events.push(e))
    await catalog.start()
    open.push(catalog)
    return { catalog, events }
  }

  it('loads modules with their exports and emits added, changed and removed', async () => {
    const dir = tempDir('pmz-seeds-')
    copyFileSync(join(FIXTURES, 'ext-echo.mjs'), join(dir, 'echo.mjs'))
    const { catalog, events } = await makeCatalog(dir)
    expect(events.map(e => [e.type, e.seed.name])).toEqual([['added', 'echo']])
    const echo = catalog.get('echo')
    expect(echo?.kind).toBe('module')
    expect(typeof echo?.exports?.extension).toBe('function')

    writeFileSync(join(dir, 'echo.mjs'), 'export const extension = () => "v2"\n')
    await catalog.refresh()
    expect(events.map(e => e.type)).toEqual(['added', 'changed'])
    const changed = catalog.get('echo')
    expect((changed?.exports?.extension as () => string)()).toBe('v2')
    expect(changed?.hash).not.toBe(echo?.hash)

    rmSync(join(dir, 'echo.mjs'))
    await catalog.refresh()
    expect(events.map(e => e.type)).toEqual(['added', 'changed', 'removed'])
    expect(catalog.get('echo')).toBeUndefined()
  })

  it('does not reload a file whose content did not change', async () => {
    const dir = tempDir('pmz-seeds-')
    const file = join(dir, 'same.mjs')
    writeFileSync(file, 'export const run = () => 1\n')
    const { catalog, events } = await makeCatalog(dir)
    writeFileSync(file, 'export const run = () => 1\n') // same bytes, new mtime
    await catalog.refresh()
    expect(events).toHaveLength(1)
    expect(catalog.list().map(s => s.name)).toEqual(['same'])
  })

  it('keeps a module that fails to load, with its error, and retries once it is fixed', async () => {
    const dir = tempDir('pmz-seeds-')
    writeFileSync(join(dir, 'broken.mjs'), 'export const run = (\n')
    const { catalog } = await makeCatalog(dir)
    const broken = catalog.get('broken')
    expect(broken?.exports).toBeUndefined()
    expect(broken?.error).toEqual(expect.any(String)) // the parser's message (Node's, or vite's under vitest)
    writeFileSync(join(dir, 'broken.mjs'), 'export const run = () => 2\n')
    await catalog.refresh()
    expect(catalog.get('broken')?.error).toBeUndefined()
    expect(typeof catalog.get('broken')?.exports?.run).toBe('function')
  })

  it('sees a file dropped into the directory without being asked (fs.watch)', async () => {
    const dir = tempDir('pmz-seeds-')
    // Polling every minute: only the watcher can find the file in time.
    const catalog = createSeedCatalog({ clock: systemClock, log }, { dir, pollIntervalMs: 60_000 })
    await catalog.start()
    open.push(catalog)
    mkdirSync(join(dir, 'nested'))
    copyFileSync(join(FIXTURES, 'job-only.mjs'), join(dir, 'nested/job.mjs'))
    await waitFor(() => catalog.get('nested/job')?.exports?.run !== undefined, 5000, 'the watcher to load nested/job')
  })
})
