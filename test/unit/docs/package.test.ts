import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO } from '../../helpers/peer.js'

interface Semver { minVersion(range: string): { version: string } | null, satisfies(version: string, range: string): boolean }
/** npm's own range logic (a dependency of the toolchain, always installed). */
const semver = createRequire(import.meta.url)('semver') as Semver

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string }, allowScripts: Record<string, boolean> }
const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string } | string[], hasInstallScript?: boolean, optional?: boolean }>
}
const nameOf = (path: string): string => path.replace(/^.*node_modules\//, '')

describe('package.json', () => {
  it('promises only a Node.js version every installed package supports (npm ci warns EBADENGINE otherwise)', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version
    const refusing = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && !Array.isArray(p.engines) && p.engines?.node !== undefined && !semver.satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${nameOf(path)} (${(p.engines as { node: string }).node})`)
    expect(refusing).toEqual([])
  })

  it('decides on the install script of every dependency that has one (allowScripts)', () => {
    const withScripts = Object.entries(lock.packages).filter(([, p]) => p.hasInstallScript === true).map(([path]) => nameOf(path))
    expect(Object.keys(pkg.allowScripts).sort()).toEqual([...new Set(withScripts)].sort())
  })
})
