import { join } from 'node:path'
import { open, type Database, type RootDatabase } from 'lmdb'
import { afterEach, describe, expect, it } from 'vitest'
import { Commits, syncOptions, type SyncMode } from '../../../src/store/commits.js'
import { tempDir } from '../../helpers/peer.js'

const opened: RootDatabase[] = []

afterEach(async () => {
  await Promise.all(opened.splice(0).map(async env => await env.close()))
})

function setup (mode: SyncMode): { env: RootDatabase, db: Database<string, string>, commits: Commits, dir: string } {
  const dir = join(tempDir(), 'env')
  const env = open({ path: dir, maxDbs: 4, ...syncOptions(mode) })
  opened.push(env)
  return { env, db: env.openDB<string, string>({ name: 'kv', encoding: 'string' }), commits: new Commits(env, mode), dir }
}

describe('Commits', () => {
  for (const mode of ['os', 'flush'] as const) {
    it(`${mode}: a committed write is readable, and the result of the work comes back`, async () => {
      const { db, commits } = setup(mode)
      const result = await commits.run(() => { void db.put('a', '1'); return 42 })
      expect(result).toBe(42)
      expect(db.get('a')).toBe('1')
    })

    it(`${mode}: a work that throws fails alone and writes nothing; the others of its turn commit`, async () => {
      const { db, commits } = setup(mode)
      const runs = [
        commits.run(() => { void db.put('x', '1') }),
        commits.run(() => { void db.put('y', 'half'); throw new Error('boom') }),
        commits.run(() => { void db.put('z', '3') })
      ]
      const settled = await Promise.allSettled(runs)
      expect(settled.map(s => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect((settled[1] as PromiseRejectedResult).reason.message).toBe('boom')
      expect([db.get('x'), db.get('y'), db.get('z')]).toEqual(['1', undefined, '3'])
    })

    it(`${mode}: a work that throws keeps its own error (onFailure is for failed commits only)`, async () => {
      const { env } = setup(mode)
      const commits = new Commits(env, mode, () => new Error('commit failed'))
      const db = env.openDB<string, string>({ name: 'kv2', encoding: 'string' })
      const settled = await Promise.allSettled([
        commits.run(() => { void db.put('a', '1') }),
        commits.run(() => { throw new Error('boom') })
      ])
      expect(settled.map(s => s.status === 'rejected' ? (s.reason as Error).message : 'ok')).toEqual(['ok', 'boom'])
    })
  }

  it('os: the works queued in one event turn share one transaction', async () => {
    const { env, db, commits } = setup('os')
    const ids = await Promise.all(Array.from({ length: 50 }, async (_, i) => await commits.run(() => {
      void db.put(`k${i}`, String(i))
      return env.getWriteTxnId()
    })))
    expect(new Set(ids).size).toBe(1)
    expect(db.get('k49')).toBe('49')
  })

  it('os: drain commits what is queued, so a close right after loses nothing', async () => {
    const { dir, env, db, commits } = setup('os')
    const pending = commits.run(() => { void db.put('late', 'v') })
    commits.drain()
    await pending
    await env.close()
    opened.splice(opened.indexOf(env), 1)
    const again = open({ path: dir, maxDbs: 4 })
    opened.push(again)
    expect(again.openDB<string, string>({ name: 'kv', encoding: 'string' }).get('late')).toBe('v')
  })
})
