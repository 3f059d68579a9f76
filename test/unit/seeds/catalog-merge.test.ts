import { describe, expect, it } from 'vitest'
import { mergeCatalogs } from '../../../src/seeds/catalog-merge.js'
import type { CatalogEntry } from '../../../src/seeds/index.js'
import { EMPTY_META } from '../../../src/seeds/seed-meta.js'

const entry = (name: string, hash: string, extra: Partial<CatalogEntry> = {}): CatalogEntry =>
  ({ name, kind: 'module', hash, meta: { ...EMPTY_META, description: `${name}@${hash}` }, ...extra })

describe('mergeCatalogs', () => {
  it('lists each seed once, by name, with its holders', () => {
    const view = mergeCatalogs(new Map([
      ['b', [entry('x', 'h1'), entry('a', 'h0')]],
      ['a', [entry('x', 'h1')]]
    ]))
    expect(view.map(s => [s.name, s.peers, s.hash, s.launchable])).toEqual([['a', ['b'], 'h0', true], ['x', ['a', 'b'], 'h1', true]])
    expect(view[1].hashes).toEqual({ h1: ['a', 'b'] })
  })

  it('takes the hash most holders have, and keeps the others', () => {
    const view = mergeCatalogs(new Map([
      ['p1', [entry('x', 'old')]], ['p2', [entry('x', 'new')]], ['p3', [entry('x', 'new')]]
    ]))
    expect(view[0].hash).toBe('new')
    expect(view[0].meta.description).toBe('x@new')
    expect(view[0].hashes).toEqual({ new: ['p2', 'p3'], old: ['p1'] })
    // A tie goes to the smallest hash, whatever the order peers come in.
    expect(mergeCatalogs(new Map([['p2', [entry('x', 'b')]], ['p1', [entry('x', 'a')]]]))[0].hash).toBe('a')
  })

  it('is launchable while one holder can run it; lists every holder\'s error', () => {
    const broken = mergeCatalogs(new Map([['p1', [entry('x', 'h', { error: 'boom' })]], ['p2', [entry('x', 'h', { error: 'boom' })]]]))
    expect(broken[0]).toMatchObject({ launchable: false, error: 'boom', errors: { p1: 'boom', p2: 'boom' } })
    const partly = mergeCatalogs(new Map([['p1', [entry('x', 'h', { error: 'no dep' })]], ['p2', [entry('x', 'h')]]]))
    expect(partly[0]).toMatchObject({ launchable: true, errors: { p1: 'no dep' } })
    expect(partly[0].error).toBeUndefined()
  })
})
