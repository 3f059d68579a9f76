import { afterAll, describe, expect, it } from 'vitest'
import { http } from '../helpers/http.js'
import { cleanupPeers, runCli, startPeer, tempDir } from '../helpers/peer.js'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'

const DEFAULT_KEY_WARNING = /cluster key is the published default/

describe('security defaults', () => {
  afterAll(cleanupPeers)

  it('pmz keygen prints a fresh random key each time', async () => {
    const [a, b] = await Promise.all([runCli(['keygen']), runCli(['keygen'])])
    expect([a.code, b.code, a.stderr]).toEqual([0, 0, ''])
    expect(a.stdout.toString()).toMatch(/^[A-Za-z0-9_-]{32}\n$/)
    expect(a.stdout.toString()).not.toBe(b.stdout.toString())
  })

  it('warns at start when a peer binds a non-loopback address with the default key, and only then', async () => {
    const open = await startPeer({ host: '0.0.0.0' })
    const warning = open.lines.map(l => JSON.parse(l) as { level: number, msg: string }).find(l => DEFAULT_KEY_WARNING.test(l.msg))
    expect(warning?.level).toBe(40)
    const keyed = await startPeer({ host: '0.0.0.0', args: ['--key', 'a-key-of-our-own'] })
    const loopback = await startPeer()
    for (const peer of [keyed, loopback]) expect(peer.lines.some(l => DEFAULT_KEY_WARNING.test(l))).toBe(false)
  })

  it('with a token, refuses writes and admin routes without it (401 envelope); reads of keys and OPTIONS stay open', async () => {
    const peer = await startPeer({ env: { PMZ_TOKEN: 's3cret-token' } })
    const bearer = { authorization: 'Bearer s3cret-token' }

    const anonymous = await http('PUT', `${peer.url}/add_key/sec/a.txt`, 'hello')
    expect(anonymous.status).toBe(401)
    expect(anonymous.json).toEqual({ data: null, status: 'ko', msg: expect.stringMatching(/bearer token is required/) })
    expect(anonymous.headers['www-authenticate']).toBe('Bearer')
    expect((await http('PUT', `${peer.url}/add_key/sec/a.txt`, 'hello', { authorization: 'Bearer wrong' })).status).toBe(401)
    expect((await http('PUT', `${peer.url}/add_key/sec/a.txt`, 'hello', bearer)).status).toBe(201)

    expect((await http('GET', `${peer.url}/get_key/sec/a.txt`)).body.toString()).toBe('hello')
    expect((await http('HEAD', `${peer.url}/get_key/sec/a.txt`)).status).toBe(200)
    expect((await http('OPTIONS', `${peer.url}/add_key/sec/a.txt`)).status).toBe(200)
    expect((await http('GET', `${peer.url}/extension/example/x`)).status).toBe(200)

    expect((await http('DELETE', `${peer.url}/delete_key/sec/a.txt`)).status).toBe(401)
    expect((await http('GET', `${peer.url}/admin/status`)).status).toBe(401)
    expect((await http('PUT', `${peer.url}/admin/config/limits`, '1')).status).toBe(401)
    expect((await http('GET', `${peer.url}/admin/status`, undefined, bearer)).status).toBe(200)
    expect((await http('GET', `${peer.url}/get_key/sec/a.txt`)).status).toBe(200)
  })

  it('the CLI sends PMZ_TOKEN', async () => {
    const peer = await startPeer({ env: { PMZ_TOKEN: 'cli-token' } })
    const file = join(tempDir(), 'f.txt')
    writeFileSync(file, 'x')
    const gw = ['--gateway', peer.url]
    const refused = await runCli(['put', file, 'cli/f.txt', ...gw])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^pmz: a bearer token is required .*\(HTTP 401\)\n$/)
    const env = { PMZ_TOKEN: 'cli-token' }
    expect((await runCli(['put', file, 'cli/f.txt', ...gw], { env })).code).toBe(0)
    expect((await runCli(['status', ...gw], { env })).code).toBe(0)
    expect((await runCli(['rm', 'cli/f.txt', ...gw], { env })).code).toBe(0)
  })
})
