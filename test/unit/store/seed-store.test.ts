import { describe, expect, it } from 'vitest'
import { seedStore, type Key, type Store } from '../../../src/store/index.js'
import { codeOf } from '../../helpers/errors.js'

/** A store that records the keys it was called with and answers nothing useful. */
function recorder (): { store: Pick<Store, 'get' | 'put' | 'stat' | 'list' | 'delete'>, calls: string[] } {
  const calls: string[] = []
  const store = {
    get: async (key: Key) => { calls.push(`get ${key}`); return { meta: undefined, body: Buffer.alloc(0) } as never },
    put: async (key: Key) => { calls.push(`put ${key}`); return undefined as never },
    stat: async (key: Key) => { calls.push(`stat ${key}`); return undefined },
    list: async () => { calls.push('list'); return [] },
    delete: async (key: Key) => { calls.push(`delete ${key}`) }
  }
  return { store, calls }
}

async function * nothing (): AsyncIterable<Uint8Array> {}

describe('seedStore (ctx.store of seeds)', () => {
  it('hands keys on rooted, with or without their leading /', async () => {
    const { store, calls } = recorder()
    const s = seedStore(store)
    await s.get('a/b.txt')
    await s.put('/a/b.txt', nothing())
    await s.stat('c')
    await s.delete('/d/e')
    await s.list({ prefix: '/a' })
    expect(calls).toEqual(['get /a/b.txt', 'put /a/b.txt', 'stat /c', 'delete /d/e', 'list'])
  })

  it('refuses an invalid key with ERR_KEY_INVALID before the store sees it', async () => {
    const { store, calls } = recorder()
    const s = seedStore(store)
    for (const key of ['', '/', 'a//b', '/a/../b', '/a b', `/${'k'.repeat(1025)}`]) {
      expect(await codeOf(s.put(key, nothing())), JSON.stringify(key)).toBe('ERR_KEY_INVALID')
      expect(await codeOf(s.get(key))).toBe('ERR_KEY_INVALID')
      expect(await codeOf(s.stat(key))).toBe('ERR_KEY_INVALID')
      expect(await codeOf(s.delete(key))).toBe('ERR_KEY_INVALID')
    }
    expect(calls).toEqual([])
  })
})
