import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO } from '../../helpers/peer.js'

/** README.md and docs/*.md: what a user reads from a fresh clone. */
const DOCS = ['README.md', ...readdirSync(join(REPO, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

describe('the documentation', () => {
  it('links only to files inside the repository, and each exists', () => {
    for (const doc of DOCS) {
      const text = readFileSync(join(REPO, doc), 'utf8')
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:|#)/.test(target)) continue
        const file = join(REPO, dirname(doc), target.replace(/#.*$/, ''))
        expect(relative(REPO, file).startsWith('..'), `${doc} links outside the repository: ${target}`).toBe(false)
        expect(existsSync(file), `${doc} links to a missing file: ${target}`).toBe(true)
      }
    }
  })
})
