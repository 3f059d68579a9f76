import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'ini'
import { afterAll, describe, expect, it } from 'vitest'
import { isPmzError } from '../../../src/common/errors.js'
import { DEFAULTS, OPTIONS, loadConfig } from '../../../src/config/index.js'
import { REPO, cleanupPeers, tempDir } from '../../helpers/peer.js'

function confFile (text: string): string {
  const file = join(tempDir('pmz-conf-'), 'server.conf')
  writeFileSync(file, text)
  return file
}

function configError (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(isPmzError(err, 'ERR_CONFIG_INVALID')).toBe(true)
    return (err as Error).message
  }
  throw new Error('expected ERR_CONFIG_INVALID')
}

describe('loadConfig', () => {
  afterAll(cleanupPeers)
  const cwd = tempDir('pmz-cwd-')

  it('uses the built-in defaults when there is no file', () => {
    const { config, file } = loadConfig({ cwd })
    expect(file).toBeUndefined()
    expect(config.http.port).toBe(31414)
    expect(config.mesh.port).toBe(31415)
    expect(config.node.dataDir).toBe(join(cwd, 'data'))
    expect(config.store).toEqual(DEFAULTS.store)
    expect(Object.isFrozen(config.http)).toBe(true)
  })

  it('applies file, then PMZ_* environment, then flags', () => {
    const configFile = confFile('[server]\nport = 1000\nhost = 10.0.0.1\n[volume]\nport = 2000\ndir = /srv/pmz\n[general]\nmaxsize = 7\n')
    const fileOnly = loadConfig({ cwd, configFile }).config
    expect([fileOnly.http.port, fileOnly.mesh.port, fileOnly.node.host, fileOnly.node.dataDir, fileOnly.http.maxsizeMb])
      .toEqual([1000, 2000, '10.0.0.1', '/srv/pmz', 7])

    const withEnv = loadConfig({ cwd, configFile, env: { PMZ_HTTP_PORT: '1001', PMZ_MESH_PORT: '2001' } }).config
    expect([withEnv.http.port, withEnv.mesh.port, withEnv.node.host]).toEqual([1001, 2001, '10.0.0.1'])

    const withFlags = loadConfig({ cwd, configFile, env: { PMZ_HTTP_PORT: '1001' }, flags: { httpPort: '1002', role: 'volume,worker' } }).config
    expect([withFlags.http.port, withFlags.mesh.port]).toEqual([1002, 2000])
    expect(withFlags.node.roles).toEqual(['volume', 'worker'])
  })

  it('reads the rx directory from [pipelines] rx_dir, PMZ_RX_DIR or --rx-dir, relative to the working directory; empty is none', () => {
    expect(loadConfig({ cwd }).config.pipelines.rxDir).toBe('')
    const configFile = confFile('[pipelines]\nrx_dir = rx\n')
    expect(loadConfig({ cwd, configFile }).config.pipelines.rxDir).toBe(join(cwd, 'rx'))
    expect(loadConfig({ cwd, configFile, env: { PMZ_RX_DIR: '/srv/rx' } }).config.pipelines.rxDir).toBe('/srv/rx')
    expect(loadConfig({ cwd, configFile, env: { PMZ_RX_DIR: '/srv/rx' }, flags: { rxDir: 'in' } }).config.pipelines.rxDir).toBe(join(cwd, 'in'))
    expect(loadConfig({ cwd, configFile, env: { PMZ_RX_DIR: ' ' } }).config.pipelines.rxDir).toBe('')
  })

  it('reads where module stages run from [pipelines] isolation or PMZ_STAGE_ISOLATION: a thread unless told otherwise', () => {
    expect(loadConfig({ cwd }).config.pipelines.isolation).toBe('thread')
    const configFile = confFile('[pipelines]\nisolation = process\n')
    expect(loadConfig({ cwd, configFile }).config.pipelines.isolation).toBe('process')
    expect(loadConfig({ cwd, configFile, env: { PMZ_STAGE_ISOLATION: 'Thread' } }).config.pipelines.isolation).toBe('thread')
    expect(configError(() => loadConfig({ cwd, env: { PMZ_STAGE_ISOLATION: 'vm' } }))).toContain('PMZ_STAGE_ISOLATION')
  })

  it('parses every flag of the pmz node line', () => {
    const { config } = loadConfig({
      cwd,
      flags: {
        role: 'all', id: 'peer-1', data: 'd', host: '127.0.0.1', httpPort: '0', meshPort: '0', discovery: 'none',
        join: '10.0.0.2:31415,[::1]:4000', cluster: 'lab', key: 's3cret', seeds: 's', replicas: '5', writeQuorum: '3'
      }
    })
    expect(config.node).toMatchObject({ id: 'peer-1', host: '127.0.0.1', dataDir: join(cwd, 'd'), seedsDir: join(cwd, 's') })
    expect(config.node.roles).toEqual(['volume', 'worker', 'gateway', 'coordinator'])
    expect(config.mesh).toMatchObject({ port: 0, cluster: 'lab', clusterKey: 's3cret', discovery: [], join: ['10.0.0.2:31415', '[::1]:4000'] })
    expect(config.store).toMatchObject({ replicas: 5, writeQuorum: 3 })
    expect(config.http.port).toBe(0)
  })

  it('reads the file PMZ_CONFIG names, which must exist; --config wins over it', () => {
    const configFile = confFile('[server]\nport = 1234\n')
    expect(loadConfig({ cwd, env: { PMZ_CONFIG: configFile } }).config.http.port).toBe(1234)
    expect(loadConfig({ cwd, configFile: confFile('[server]\nport = 4321\n'), env: { PMZ_CONFIG: configFile } }).config.http.port).toBe(4321)
    expect(configError(() => loadConfig({ cwd, env: { PMZ_CONFIG: '/nonexistent.conf' } }))).toMatch(/config file not found/)
  })

  it('names the file, line and key of a bad value', () => {
    const file = confFile('[server]\nhost = h\n\n[volume]\nport = seventy\n')
    expect(configError(() => loadConfig({ cwd, configFile: file })))
      .toBe(`${file}:5: [volume] port: expected an integer from 0 to 65535, got "seventy"`)
  })

  it('names the variable or flag of a bad value', () => {
    expect(configError(() => loadConfig({ cwd, env: { PMZ_REPLICAS: '0' } })))
      .toBe('environment variable PMZ_REPLICAS: expected an integer from 1 to 16, got 0')
    expect(configError(() => loadConfig({ cwd, flags: { discovery: 'mdns,carrier-pigeon' } })))
      .toMatch(/^flag --discovery: unknown discovery method "carrier-pigeon"/)
    expect(configError(() => loadConfig({ cwd, flags: { role: 'volume,boss' } }))).toMatch(/^flag --role: unknown role "boss"/)
    expect(configError(() => loadConfig({ cwd, flags: { join: 'nohostport' } }))).toMatch(/^flag --join: expected HOST:MESHPORT/)
    expect(configError(() => loadConfig({ cwd, flags: { id: '-bad id' } }))).toMatch(/^flag --id:/)
    expect(configError(() => loadConfig({ cwd, flags: { maxsize: '-1' } }))).toMatch(/^flag --maxsize: expected a positive number/)
  })

  it('reads the upload limits of [http] from the file and the environment', () => {
    expect(loadConfig({ cwd }).config.http).toMatchObject({ bodyIdleTimeoutS: 30, maxUploadsPerClient: 128 })
    const file = confFile('[http]\nbody_idle_timeout_s = 2.5\nmax_uploads_per_client = 7\n')
    expect(loadConfig({ cwd, configFile: file }).config.http).toMatchObject({ bodyIdleTimeoutS: 2.5, maxUploadsPerClient: 7 })
    expect(loadConfig({ cwd, configFile: file, env: { PMZ_BODY_IDLE_TIMEOUT_S: '1', PMZ_MAX_UPLOADS_PER_CLIENT: '3' } }).config.http)
      .toMatchObject({ bodyIdleTimeoutS: 1, maxUploadsPerClient: 3 })
    expect(configError(() => loadConfig({ cwd, env: { PMZ_BODY_IDLE_TIMEOUT_S: '0' } }))).toMatch(/^environment variable PMZ_BODY_IDLE_TIMEOUT_S: expected a positive number/)
    expect(configError(() => loadConfig({ cwd, env: { PMZ_MAX_UPLOADS_PER_CLIENT: '0' } }))).toMatch(/^environment variable PMZ_MAX_UPLOADS_PER_CLIENT: expected an integer/)
  })

  it('refuses a write quorum above the replica count, and a missing --config file', () => {
    expect(configError(() => loadConfig({ cwd, flags: { replicas: '2', writeQuorum: '3' } }))).toMatch(/write quorum \(3\) is larger than the replica count \(2\)/)
    expect(configError(() => loadConfig({ cwd, configFile: '/nonexistent/server.conf' }))).toMatch(/config file not found/)
  })

  it('warns about Pulzar keys it ignores and unknown keys', () => {
    const file = confFile('[server]\ncors = True\n[backup]\nactive = False\n[mystery]\nthing = 1\n')
    const { warnings } = loadConfig({ cwd, configFile: file })
    expect(warnings).toHaveLength(3)
    expect(warnings[0]).toMatch(/\[server\] cors is a Pulzar key pmz ignores/)
    expect(warnings[2]).toMatch(/:6: unknown key \[mystery\] thing ignored/)
  })

  it('reads a Pulzar server.conf unchanged', () => {
    const file = confFile([
      '[server]', 'host = localhost', 'port = 31414', 'key = l415S4Nt05', 'cors = True',
      '[volume]', 'dir = /var/lib/pulzar/data', 'port = 31415',
      '[general]', 'retention_policy = 90', 'maxsize = 5',
      '[jobs]', 'dir = jobs',
      '[backup]', 'active = False', 'type = None', 'address = ', 'user = ', 'psw = '
    ].join('\n'))
    const { config } = loadConfig({ cwd, configFile: file })
    expect(config.node).toMatchObject({ host: 'localhost', dataDir: '/var/lib/pulzar/data', seedsDir: join(cwd, 'jobs') })
    expect(config.general.retentionDays).toBe(90)
  })
})

describe('config/server.conf', () => {
  it('documents every option with its built-in default', () => {
    const ini = parse(readFileSync(join(REPO, 'config/server.conf'), 'utf8')) as Record<string, Record<string, string>>
    const seen = new Set<string>()
    for (const [section, body] of Object.entries(ini)) {
      for (const key of Object.keys(body)) seen.add(`${section}.${key}`)
    }
    expect([...seen].sort()).toEqual(OPTIONS.map(o => o.ini).sort())
    // Loading the shipped file gives exactly the defaults.
    const fromFile = loadConfig({ cwd: REPO, configFile: 'config/server.conf' }).config
    const defaults = loadConfig({ cwd: REPO, configFile: join(REPO, 'test/fixtures/empty.conf') }).config
    expect(fromFile).toEqual(defaults)
  })
})
