import { chmodSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/common/logger.js'
import { createSeedCatalog, type SeedCatalog } from '../../../src/seeds/index.js'
import { LocalEntries, sidecarPath } from '../../../src/seeds/local-entries.js'
import { executeDocstring, moduleMeta, pythonMeta, sidecarMeta } from '../../../src/seeds/seed-meta.js'
import { ManualClock } from '../../helpers/manual-clock.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })

/** pulzar-api.md §7: Pulzar's example script, as its users write it. */
const FACTORIAL = `from pulzarcore.core_jobs import CoreJobs


class Factorial(CoreJobs):
    def __init__(self, params):
        super().__init__(params)

    def execute(self):
        """
        Description: Calculate the factorial of a number
        Arguments: {"number": "int"}
        Category: math
        Author: Cleve
        """
        self.run_my_code()
        return self.is_the_job_ok()

    @CoreJobs._pulzar_run_job
    def run_my_code(self):
        """Description: not this one"""
        pass
`

describe('declared meta', () => {
  it('reads a module\'s meta export, or its default export\'s meta', () => {
    expect(moduleMeta({ meta: { description: 'Says hello', args: { name: 'string' }, category: 'demo', author: 'Ann' } }))
      .toEqual({ description: 'Says hello', args: '{"name":"string"}', category: 'DEMO', author: 'Ann' })
    expect(moduleMeta({ default: { run: () => 1, meta: { description: 'd', arguments: 'n: int' } } }))
      .toEqual({ description: 'd', args: 'n: int', category: '', author: '' })
    expect(moduleMeta({ run: () => 1 })).toEqual({ description: '', args: '', category: '', author: '' })
    expect(moduleMeta({ meta: 42 }).description).toBe('')
    expect(moduleMeta(undefined).description).toBe('')
    expect(moduleMeta({ meta: { description: 'x'.repeat(5000) } }).description.length).toBe(1000)
  })

  it('reads a Pulzar script\'s execute() docstring without running Python (§7)', () => {
    expect(pythonMeta(FACTORIAL)).toEqual({
      description: 'Calculate the factorial of a number', args: '{"number": "int"}', category: 'MATH', author: 'Cleve'
    })
  })

  it('takes one-line docstrings, comments before the docstring and wrapped values', () => {
    expect(pythonMeta('class A:\n  def execute(self) -> bool:  # run\n    # doc below\n\n    r\'\'\'Description: one line\'\'\'\n').description).toBe('one line')
    expect(pythonMeta('def execute(self):\n    "Author: me"\n').author).toBe('me')
    const wrapped = 'def execute(self):\n    """\n    Arguments: {"a": 1,\n      "b": 2}\n\n    unrelated\n    """\n'
    expect(pythonMeta(wrapped).args).toBe('{"a": 1, "b": 2}')
  })

  it('finds nothing where execute() has no docstring', () => {
    expect(executeDocstring('def execute(self):\n    return True\n')).toBeUndefined()
    expect(executeDocstring('def run(self):\n    """Description: x"""\n')).toBeUndefined()
    expect(pythonMeta('def execute(self):\n    return True\n"""Description: later"""\n').description).toBe('')
  })

  it('reads an executable\'s sidecar JSON and refuses one that is not an object', () => {
    expect(sidecarMeta('{"description": "Resize", "args": ["w", "h"], "category": "img", "author": "Bo"}'))
      .toEqual({ description: 'Resize', args: '["w","h"]', category: 'IMG', author: 'Bo' })
    expect(() => sidecarMeta('[1]')).toThrow()
    expect(() => sidecarMeta('{broken')).toThrow()
    expect(sidecarPath('/s/tools/resize.sh')).toBe('/s/tools/resize.json')
    expect(sidecarPath('/s/tool')).toBe('/s/tool.json')
  })
})

describe('LocalEntries', () => {
  const open: SeedCatalog[] = []
  afterEach(async () => {
    for (const c of open.splice(0)) await c.stop()
    await cleanupPeers()
  })

  async function entriesOf (dir: string): Promise<{ catalog: SeedCatalog, entries: LocalEntries }> {
    const catalog = createSeedCatalog({ clock: new ManualClock(), log }, { dir, watch: false })
    await catalog.start()
    open.push(catalog)
    return { catalog, entries: new LocalEntries(log) }
  }

  it('describes each kind, and a module that fails to load with its error', async () => {
    const dir = tempDir('pmz-seeds-')
    writeFileSync(join(dir, 'hello.mjs'), 'export const meta = { description: "hi", category: "demo" }\nexport default () => 1\n')
    writeFileSync(join(dir, 'broken.mjs'), 'throw new Error("boom at import")\n')
    writeFileSync(join(dir, 'factorial.py'), FACTORIAL)
    writeFileSync(join(dir, 'tool.sh'), '#!/bin/sh\necho hi\n')
    chmodSync(join(dir, 'tool.sh'), 0o755)
    writeFileSync(join(dir, 'tool.json'), '{"description": "A tool"}')
    const { catalog, entries } = await entriesOf(dir)
    const list = await entries.describe(catalog.list())
    expect(list.map(e => [e.name, e.kind, e.meta.description, e.error])).toEqual([
      ['broken', 'module', '', 'boom at import'],
      ['factorial', 'python', 'Calculate the factorial of a number', undefined],
      ['hello', 'module', 'hi', undefined],
      ['tool', 'executable', 'A tool', undefined]
    ])
    expect(list.every(e => /^[0-9a-f]{64}$/.test(e.hash))).toBe(true)
  })

  it('reads a sidecar again when it changes, and ignores a broken one', async () => {
    const dir = tempDir('pmz-seeds-')
    writeFileSync(join(dir, 'tool'), '#!/bin/sh\n')
    chmodSync(join(dir, 'tool'), 0o755)
    const { catalog, entries } = await entriesOf(dir)
    expect((await entries.describe(catalog.list()))[0].meta.description).toBe('')
    writeFileSync(join(dir, 'tool.json'), '{"description": "v1"}')
    expect((await entries.describe(catalog.list()))[0].meta.description).toBe('v1')
    writeFileSync(join(dir, 'tool.json'), '{"description": "v2!"}')
    utimesSync(join(dir, 'tool.json'), new Date(), new Date(Date.now() + 5000))
    expect((await entries.describe(catalog.list()))[0].meta.description).toBe('v2!')
    writeFileSync(join(dir, 'tool.json'), '{not json')
    const [entry] = await entries.describe(catalog.list())
    expect(entry.meta.description).toBe('')
    expect(entry.error).toBeUndefined() // a broken sidecar does not stop the executable from running
  })
})
