import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http } from '../helpers/http.js'
import { PMZ, cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

describe('pmz CLI against a gateway', () => {
  let peer: Peer
  let dir: string
  let gw: string[]
  beforeAll(async () => {
    peer = await startPeer({ env: { PMZ_MAXSIZE: '16' } })
    dir = tempDir()
    gw = ['--gateway', peer.url]
  })
  afterAll(cleanupPeers)

  it('put, get, ls, status and rm round-trip a file', async () => {
    const file = join(dir, 'report.bin')
    const bytes = randomBytes(300_000)
    writeFileSync(file, bytes)

    const put = await runCli(['put', file, 'docs/report.bin', '--temporal', '7', ...gw])
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    expect(put.stdout.toString().trim()).toBe(`${peer.url}/get_key/docs/report.bin`)

    const toStdout = await runCli(['get', '/docs/report.bin', ...gw])
    expect(toStdout.code).toBe(0)
    expect(toStdout.stdout.equals(bytes)).toBe(true)

    const out = join(dir, 'copy.bin')
    expect((await runCli(['get', 'docs/report.bin', '-o', out, ...gw])).code).toBe(0)
    expect(readFileSync(out).equals(bytes)).toBe(true)

    const ls = await runCli(['ls', 'docs', ...gw])
    expect(ls.code).toBe(0)
    expect(ls.stdout.toString()).toMatch(/300000 .* \/docs\/report\.bin {2}\(expires /)

    const status = await runCli(['status', ...gw])
    expect(status.code).toBe(0)
    expect(status.stdout.toString()).toMatch(/^entries\s+1$/m)

    const rm = await runCli(['rm', 'docs/report.bin', ...gw])
    expect(rm.code).toBe(0)
    expect(rm.stdout.toString().trim()).toBe('key deleted')
    expect((await http('GET', `${peer.url}/get_key/docs/report.bin`)).status).toBe(404)
  })

  it('reads stdin when FILE is -', async () => {
    const bytes = randomBytes(200_000)
    const put = await runCli(['put', '-', 'from/stdin.bin', ...gw], { input: bytes })
    expect(put.stderr).toBe('')
    expect(put.code).toBe(0)
    expect((await runCli(['get', 'from/stdin.bin', ...gw])).stdout.equals(bytes)).toBe(true)
  })

  it('ends quietly with status 0 when the reader closes stdout (pmz get KEY | head -c 10)', async () => {
    const file = join(dir, 'big.bin')
    writeFileSync(file, randomBytes(4 * 1024 * 1024))
    expect((await runCli(['put', file, 'pipe/big.bin', ...gw])).code).toBe(0)
    const proc = spawn(process.execPath, [PMZ, 'get', 'pipe/big.bin', ...gw], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const exited = new Promise<number | null>(resolve => proc.once('exit', resolve))
    proc.stdout.once('data', () => { proc.stdout.destroy() })
    expect(await exited).toBe(0)
    expect(stderr).toBe('')
  })

  it('lists every key across pages', async () => {
    for (let i = 0; i < 1005; i += 201) {
      await Promise.all(Array.from({ length: Math.min(201, 1005 - i) }, async (_, j) =>
        await http('PUT', `${peer.url}/add_key/many/k${String(i + j).padStart(4, '0')}`, 'x')))
    }
    const ls = await runCli(['ls', '/many/', ...gw])
    expect(ls.code).toBe(0)
    const lines = ls.stdout.toString().trim().split('\n')
    expect(lines).toHaveLength(1005)
    expect(lines[1004]).toMatch(/\/many\/k1004$/)
  })

  it('ls --limit and --json, status --json and peers --json print what scripts can read', async () => {
    for (let i = 0; i < 5; i++) expect((await http('PUT', `${peer.url}/add_key/json/k${i}`, 'xy')).status).toBe(201)
    const limited = await runCli(['ls', 'json/', '--limit', '3', ...gw])
    expect(limited.stdout.toString().trim().split('\n')).toHaveLength(3)
    const json = await runCli(['ls', 'json/', '--json', '--limit', '4', ...gw])
    expect(json.code).toBe(0)
    const rows = JSON.parse(json.stdout.toString()) as Array<{ key: string, size: number, sha256: string }>
    expect(rows.map(r => r.key)).toEqual(['/json/k0', '/json/k1', '/json/k2', '/json/k3'])
    expect(rows[0]).toMatchObject({ size: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/), expires: null })
    expect((await runCli(['ls', '--limit', '0', ...gw])).stderr).toBe('pmz: --limit: expected a whole number above 0, got "0"\n')

    const status = JSON.parse((await runCli(['status', '--json', ...gw])).stdout.toString()) as { entries: number, peer: string }
    expect(status.peer).toBe(peer.id)
    expect(typeof status.entries).toBe('number')
    const peers = JSON.parse((await runCli(['peers', '--json', ...gw])).stdout.toString()) as Array<{ node: string, state: string }>
    expect(peers).toContainEqual(expect.objectContaining({ node: peer.id, state: 'alive' }))
  })

  it('shows a progress bar on large transfers when asked', async () => {
    const file = join(dir, 'large.bin')
    writeFileSync(file, randomBytes(6 * 1024 * 1024))
    const put = await runCli(['put', file, 'large.bin', '--progress', ...gw])
    expect(put.code).toBe(0)
    expect(put.stderr).toMatch(/upload .*100% \| 6\.0\/6\.0 MB/)
  })

  it('fails with a one-line message and a non-zero exit', async () => {
    const missing = await runCli(['get', 'no/such/key', ...gw])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe('pmz: key not found (HTTP 404)\n')

    const file = join(dir, 'small.txt')
    writeFileSync(file, 'x')
    expect((await runCli(['put', file, 'dup.txt', ...gw])).code).toBe(0)
    const dup = await runCli(['put', file, 'dup.txt', ...gw])
    expect(dup.code).toBe(1)
    expect(dup.stderr).toBe('pmz: key already exists (HTTP 409)\n')

    const badKey = await runCli(['put', file, 'bad//key', ...gw])
    expect(badKey.code).toBe(1)
    expect(badKey.stderr).toMatch(/^pmz: invalid key: empty segment \(HTTP 400\)\n$/)

    const noFile = await runCli(['put', join(dir, 'nope'), 'k', ...gw])
    expect(noFile.code).toBe(1)
    expect(noFile.stderr).toMatch(/^pmz: cannot read .*nope: ENOENT\n$/)

    const down = await runCli(['status', '--gateway', 'http://127.0.0.1:1'])
    expect(down.code).toBe(1)
    expect(down.stderr).toMatch(/^pmz: cannot reach the gateway at http:\/\/127\.0\.0\.1:1: ECONNREFUSED\n$/)

    const badGateway = await runCli(['status', '--gateway', 'nonsense'])
    expect(badGateway.code).toBe(1)
    expect(badGateway.stderr).toMatch(/^pmz: --gateway: expected an http:\/\/ URL/)
  })
})

describe('pmz help and usage errors', () => {
  it('pmz node --help shows each default and environment variable', async () => {
    const help = (await runCli(['node', '--help'])).stdout.toString()
    expect(help).toMatch(/--http-port <port>\s+HTTP port \(0: any free port\) \(default: 31414; env:\s+PMZ_HTTP_PORT\)/)
    expect(help).toMatch(/--data <dir>\s+data directory \(default: \.\/data; env: PMZ_DATA\)/)
    expect(help).toMatch(/PMZ_STORE_SYNC\s+\[store\] sync/)
    expect(help).toMatch(/PMZ_CONFIG/)
  })

  it('offers --progress only where something is transferred', async () => {
    for (const cmd of ['rm', 'ls', 'status', 'peers']) expect((await runCli([cmd, '--help'])).stdout.toString(), cmd).not.toMatch(/--progress/)
    for (const cmd of ['put', 'get']) expect((await runCli([cmd, '--help'])).stdout.toString(), cmd).toMatch(/--progress/)
  })

  it('answers an unknown flag with the error and one hint line, not the whole help', async () => {
    const res = await runCli(['ls', '--bogus'])
    expect(res.code).toBe(1)
    expect(res.stdout.toString()).toBe('')
    expect(res.stderr).toBe("pmz: unknown option '--bogus'\n(add --help to see the options)\n")
  })
})

describe('pmz node refuses a bad configuration', () => {
  afterAll(cleanupPeers)

  it('names the key and the file of a bad value, and starts nothing', async () => {
    const dir = tempDir()
    const conf = join(dir, 'server.conf')
    writeFileSync(conf, '[server]\nhost = 127.0.0.1\nport = 99999\n')
    const res = await runCli(['node', '--config', conf, '--data', join(dir, 'data')])
    expect(res.code).toBe(1)
    expect(res.stderr).toBe(`pmz: ${conf}:3: [server] port: expected an integer from 0 to 65535, got 99999\n`)
  })

  it('names the flag of a bad value', async () => {
    const res = await runCli(['node', '--http-port', 'abc', '--data', join(tempDir(), 'data')])
    expect(res.code).toBe(1)
    expect(res.stderr).toBe('pmz: flag --http-port: expected an integer from 0 to 65535, got "abc"\n')
  })

  it('says which address is taken when the HTTP port is in use', async () => {
    const peer = await startPeer()
    const port = new URL(peer.url).port
    const res = await runCli(['node', '--host', '127.0.0.1', '--http-port', port, '--mesh-port', '0', '--data', join(tempDir(), 'data')])
    expect(res.code).toBe(1)
    expect(res.stderr).toMatch(new RegExp(`^pmz: cannot listen: address .*${port} is already in use\\n$`))
  })
})
