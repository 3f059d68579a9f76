import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CatalogRow } from '../../src/http/index.js'
import { converged } from '../helpers/cluster.js'
import { http, waitFor } from '../helpers/http.js'
import { cleanupPeers, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const HELLO = 'export const meta = { description: "Says hello", args: { name: "string" }, category: "demo", author: "Ann" }\nexport default (args) => `hello ${args.name}`\n'
const FACTORIAL = 'from pulzarcore.core_jobs import CoreJobs\n\nclass Factorial(CoreJobs):\n    def execute(self):\n' +
  '        """\n        Description: Calculate the factorial of a number\n        Arguments: {"number": "int"}\n        Category: math\n        Author: Cleve\n        """\n        return True\n'

/** The catalog a peer serves ([] when it does not answer). */
async function catalog (peer: Peer): Promise<CatalogRow[]> {
  const res = await http('GET', `${peer.url}/admin/job_catalog`).catch(() => undefined)
  return res?.status === 200 && res.json?.status === 'ok' ? res.json.data as CatalogRow[] : []
}

/** Waits until every peer's catalog satisfies `check` (all catalogs agree, being built from the same gossip). */
async function everyCatalog (peers: Peer[], what: string, check: (rows: CatalogRow[]) => boolean, timeoutMs = 10_000): Promise<number> {
  const t0 = Date.now()
  await waitFor(async () => (await Promise.all(peers.map(catalog))).every(check), timeoutMs, what)
  return Date.now() - t0
}

const paths = (rows: CatalogRow[]): string[] => rows.map(r => r.path)

/**
 * Issue 14, catalog: three real peers, two of them workers with their own
 * seeds directory, one without the worker role (its seeds do not count).
 */
describe('job catalog across peers (issue 14)', () => {
  let a: Peer
  let b: Peer
  let c: Peer
  const dirs = { a: '', b: '', c: '' }

  beforeAll(async () => {
    for (const k of ['a', 'b', 'c'] as const) dirs[k] = tempDir(`pmz-seeds-${k}-`)
    mkdirSync(join(dirs.a, 'example'))
    writeFileSync(join(dirs.a, 'example/hello.mjs'), HELLO)
    writeFileSync(join(dirs.a, 'shared.mjs'), 'export default () => 1\n')
    writeFileSync(join(dirs.a, 'broken.mjs'), 'throw new Error("boom at import")\n')
    mkdirSync(join(dirs.b, 'example'))
    writeFileSync(join(dirs.b, 'example/factorial.py'), FACTORIAL)
    writeFileSync(join(dirs.b, 'shared.mjs'), 'export default () => 2\n') // same name, other content
    writeFileSync(join(dirs.b, 'tool.sh'), '#!/bin/sh\necho hi\n')
    chmodSync(join(dirs.b, 'tool.sh'), 0o755)
    writeFileSync(join(dirs.b, 'tool.json'), '{"description": "A tool", "category": "ops"}')
    writeFileSync(join(dirs.c, 'not-a-worker.mjs'), 'export default () => 0\n')
    const cluster = `test-${randomUUID().slice(0, 8)}`
    a = await startPeer({ cluster, args: ['--seeds', dirs.a] })
    const join_ = ['--join', a.mesh]
    ;[b, c] = await Promise.all([
      startPeer({ cluster, args: ['--seeds', dirs.b, ...join_] }),
      startPeer({ cluster, args: ['--seeds', dirs.c, '--role', 'volume,gateway,coordinator', ...join_] })
    ])
    await converged([a, b, c], [a.id, b.id, c.id], 15_000)
  }, 60_000)

  afterAll(cleanupPeers)

  it('lists every worker\'s seed once, with the peers holding it and its declared meta', async () => {
    const expected = ['broken', 'example/factorial', 'example/hello', 'shared', 'tool']
    await everyCatalog([a, b, c], 'every peer to list the seeds of both workers', rows => paths(rows).join() === expected.join())
    for (const peer of [a, b, c]) {
      const rows = await catalog(peer)
      const row = (path: string): CatalogRow => rows.find(r => r.path === path)!
      expect(row('example/hello')).toMatchObject({
        description: 'Says hello', args: '{"name":"string"}', category: 'DEMO', author: 'Ann', kind: 'module', peers: [a.id], launchable: true, error: null
      })
      expect(row('example/factorial')).toMatchObject({
        description: 'Calculate the factorial of a number', args: '{"number": "int"}', category: 'MATH', author: 'Cleve', kind: 'python', peers: [b.id]
      })
      expect(row('tool')).toMatchObject({ description: 'A tool', category: 'OPS', kind: 'executable', peers: [b.id] })
      expect(row('shared').peers).toEqual([a.id, b.id].sort())
      expect(row('shared').hash_conflict).toBe(true)
      expect(Object.values(row('shared').hashes).map(p => p.length)).toEqual([1, 1])
      expect(row('broken')).toMatchObject({ launchable: false, error: 'boom at import', peers: [a.id] })
    }
  })

  it('shows a seed dropped into one peer\'s directory on the others within seconds, and drops a removed one', async () => {
    writeFileSync(join(dirs.b, 'late.mjs'), 'export const meta = { description: "late" }\nexport default () => 3\n')
    const added = await everyCatalog([a, b, c], 'late to appear everywhere', rows => rows.some(r => r.path === 'late' && r.description === 'late'), 5_000)
    rmSync(join(dirs.a, 'example/hello.mjs'))
    const removed = await everyCatalog([a, b, c], 'example/hello to disappear everywhere', rows => !paths(rows).includes('example/hello'), 5_000)
    console.log(`seed added seen on every peer after ${added} ms, removed after ${removed} ms`)
  })

  it('drops a worker\'s seeds when it dies', async () => {
    process.kill(-b.pid, 'SIGKILL')
    await b.exited
    await everyCatalog([a, c], 'b\'s seeds to leave the catalog', rows => !paths(rows).includes('tool') && rows.find(r => r.path === 'shared')?.peers.length === 1, 15_000)
  })

  it('answers a bad limit with 400 and honours a good one', async () => {
    const bad = await http('GET', `${a.url}/admin/job_catalog?limit=zero`)
    expect(bad.status).toBe(400)
    expect(bad.json?.status).toBe('ko')
    const one = await http('GET', `${a.url}/admin/job_catalog?limit=1`)
    expect(one.json?.data).toHaveLength(1)
  })
})
