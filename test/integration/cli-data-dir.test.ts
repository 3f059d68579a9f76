import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { PMZ, cleanupPeers, runCli, tempDir } from '../helpers/peer.js'

const NODE_ARGS = ['--host', '127.0.0.1', '--http-port', '0', '--mesh-port', '0', '--discovery', 'static']
const ONE_LINE = (dir: string, what: string): RegExp =>
  new RegExp(`^pmz: data directory ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${what}.*--data DIR.*\\n$`)

/**
 * How to make a directory the peer cannot write: as a non-root user a plain
 * chmod does it; as root (CI), run the peer as `nobody` with setpriv when
 * nobody can read the repository; else a read-only tmpfs mount. Undefined
 * with the reason printed when none of these can be done here.
 */
function unwritableSetup (): { wrap: string[], readOnlyDir: (dir: string) => string, reason?: undefined } | { reason: string } {
  const chmodRo = (dir: string): string => {
    mkdirSync(dir)
    chmodSync(dir, 0o555)
    return dir
  }
  if (process.getuid?.() !== 0) return { wrap: [], readOnlyDir: chmodRo }
  const asNobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups']
  const probe = spawnSync(asNobody[0], [...asNobody.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(PMZ)}, 4)`])
  if (probe.status === 0) return { wrap: asNobody, readOnlyDir: chmodRo }
  const mountPoint = join(tempDir(), 'ro')
  mkdirSync(mountPoint)
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mountPoint])
  if (mount.status === 0) {
    mounts.push(mountPoint)
    return { wrap: [], readOnlyDir: () => mountPoint }
  }
  return { reason: `neither setpriv as nobody (${probe.stderr.toString().trim() || `exit ${String(probe.status)}`}) nor a read-only tmpfs mount (${mount.stderr.toString().trim()}) works here` }
}
const mounts: string[] = []

describe('pmz node checks its data directory before opening the store', () => {
  afterAll(async () => {
    for (const m of mounts) spawnSync('umount', [m])
    await cleanupPeers()
  })

  it('refuses a --data that names a regular file, in one line', async () => {
    const file = join(tempDir(), 'not-a-dir')
    writeFileSync(file, 'x')
    const res = await runCli(['node', ...NODE_ARGS, '--data', file])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(ONE_LINE(file, 'is not a directory'))
  })

  it('fails at once, in one line, under /proc (a recursive mkdir there never returns)', async () => {
    const res = await runCli(['node', ...NODE_ARGS, '--data', '/proc/pmz-data-test'])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(ONE_LINE('/proc/pmz-data-test', 'cannot be created'))
  }, 15_000)

  it('refuses a data directory it cannot create or write, in one line', async ctx => {
    const setup = unwritableSetup()
    if (setup.reason !== undefined) {
      console.warn(`skipped: ${setup.reason}`)
      ctx.skip()
      return
    }
    const parent = setup.readOnlyDir(join(tempDir(), 'parent'))
    chmodSync(join(parent, '..'), 0o755)
    const missing = join(parent, 'data')
    const create = await runCli(['node', ...NODE_ARGS, '--data', missing], { wrap: setup.wrap })
    expect(create.code).toBe(1)
    expect(create.stderr).toMatch(ONE_LINE(missing, 'cannot be created \\((permission denied|read-only file system)\\)'))
    expect(existsSync(missing)).toBe(false)

    const write = await runCli(['node', ...NODE_ARGS, '--data', parent], { wrap: setup.wrap })
    expect(write.code).toBe(1)
    expect(write.stderr).toMatch(ONE_LINE(parent, 'is not writable \\((permission denied|read-only file system)\\)'))
  })
})
