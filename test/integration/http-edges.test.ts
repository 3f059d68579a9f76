import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { http, rawExchange, waitFor } from '../helpers/http.js'
import { cleanupPeers, runCli, startPeer, tempDir, type Peer } from '../helpers/peer.js'

const MIB = 1024 * 1024
const KO = { data: null, status: 'ko', msg: expect.any(String) }

/** Files under every `blobs/` directory of a peer's data dir (partial uploads included). */
function blobFiles (dataDir: string): string[] {
  const root = join(dataDir, 'store', 'blobs')
  if (!existsSync(root)) return []
  return readdirSync(root, { recursive: true, withFileTypes: true }).filter(e => e.isFile()).map(e => e.name)
}

const hasCommand = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0

/** Runs a program to completion; resolves with its exit code and stdout. */
async function run (cmd: string, args: string[], input?: Buffer): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  proc.stdin.on('error', () => {})
  proc.stdin.end(input)
  const code = await new Promise<number | null>(resolve => proc.once('exit', resolve))
  return { code, stdout, stderr }
}

/** An upload's request head, as a client that then sends `sent` bytes of the `declared` ones. */
const uploadHead = (path: string, declared: number, extra = ''): string =>
  `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${declared}\r\n${extra}\r\n`

describe('HTTP edges of one peer (issue 12)', () => {
  let peer: Peer
  let dir: string
  beforeAll(async () => {
    peer = await startPeer({ env: { PMZ_BODY_IDLE_TIMEOUT_S: '1', PMZ_LOG_LEVEL: 'debug' } })
    dir = tempDir()
  })
  afterAll(cleanupPeers)

  it('refuses a temporal that cannot be a date (400) and lists a far one (item 4)', async () => {
    for (const bad of ['99999999999999999999', '10000001']) {
      const res = await http('PUT', `${peer.url}/add_key/t/absurd?temporal=${bad}`, 'x')
      expect(res.status, bad).toBe(400)
      expect(res.json).toEqual(KO)
    }
    expect((await http('PUT', `${peer.url}/add_key/t/far?temporal=10000000`, 'x')).status).toBe(201)
    const listed = await http('GET', `${peer.url}/admin/keys?prefix=/t/`)
    expect(listed.status).toBe(200)
    expect(listed.json!.data.map((r: { key: string }) => r.key)).toEqual(['/t/far'])
    expect(Number.isFinite(Date.parse(listed.json!.data[0].expires))).toBe(true)
    const ls = await runCli(['ls', 't', '--gateway', peer.url])
    expect(ls.stderr).toBe('')
    expect(ls.code).toBe(0)
    expect(ls.stdout.toString()).toMatch(/\/t\/far {2}\(expires /)
  })

  it('cuts a stalled upload after the idle timeout: 408, nothing stored, no partial file left (item 5)', async () => {
    const started = Date.now()
    // Larger than one chunk, so the store streams it into a blob file as it comes.
    const big = await rawExchange(peer.url, Buffer.concat([Buffer.from(uploadHead('/add_key/stall/big.bin', 2 * MIB)), Buffer.alloc(300_000, 7)]), { timeoutMs: 15_000 })
    expect(big.closed).toBe(true)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(big.status).toBe(408)
    expect(big.json).toEqual(KO)
    expect(blobFiles(peer.dataDir)).toEqual([])
    expect((await http('GET', `${peer.url}/get_key/stall/big.bin`)).status).toBe(404)

    // Content-Length 1000 with 100 bytes sent: the small-body path.
    const small = await rawExchange(peer.url, uploadHead('/add_key/stall/small.bin', 1000) + 'x'.repeat(100), { timeoutMs: 15_000 })
    expect(small.closed).toBe(true)
    expect(small.status).toBe(408)
    expect((await http('GET', `${peer.url}/get_key/stall/small.bin`)).status).toBe(404)

    // A body that is never read (wrong method) is drained under the same idle timeout.
    const unread = await rawExchange(peer.url, uploadHead('/admin/status', 1000) + 'x'.repeat(100), { timeoutMs: 15_000 })
    expect(unread.closed).toBe(true)
    expect(unread.status).toBe(405)
  })

  it('answers an error to a Connection: close request only once its body is read, so the answer is not lost to a reset', async () => {
    // Closing a socket with bytes unread makes the kernel send a reset, which can
    // destroy the 400 at the client before it is read: the peer reads the rest
    // first. Here the rest never comes: the answer waits for the idle timeout (1 s).
    const started = Date.now()
    const head = 'POST /admin/restore?overwrite=maybe HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 3000\r\n\r\n'
    const res = await rawExchange(peer.url, Buffer.concat([Buffer.from(head), Buffer.alloc(1000, 0x41)]), { timeoutMs: 15_000 })
    expect(res.status).toBe(400)
    expect(res.json?.msg).toMatch(/overwrite/)
    expect(res.closed).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
  })

  it('logs a client that aborts an upload at debug, never at error level (item 9)', async () => {
    const path = (i: number): string => `/add_key/abort/k${i}.bin`
    for (let i = 0; i < 10; i++) {
      await rawExchange(peer.url, Buffer.concat([Buffer.from(uploadHead(path(i), 2 * MIB)), Buffer.alloc(200_000, 1)]), { timeoutMs: 5000, destroyAfterWrite: true })
    }
    const logged = (i: number): boolean => peer.lines.some(l => l.includes(`"${path(i)}"`))
    await waitFor(() => Array.from({ length: 10 }, (_, i) => logged(i)).every(Boolean), 10_000, 'every aborted upload to be logged')
    const levels = peer.lines.filter(l => l.includes('/add_key/abort/')).map(l => (JSON.parse(l) as { level: number }).level)
    expect(Math.max(...levels)).toBeLessThanOrEqual(30)
    expect(peer.lines.filter(l => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50)).toEqual([])
    await waitFor(() => blobFiles(peer.dataDir).length === 0, 5000, 'the aborted uploads\' files to be removed')
  })

  it.skipIf(!hasCommand('python3'))('a refused 4 MB upload reaches Python\'s http.client as 409 or 413, without Expect (item 8)', async () => {
    expect((await http('PUT', `${peer.url}/add_key/dup/four.bin`, 'first')).status).toBe(201)
    const script = [
      'import http.client, json, sys',
      'host, port = sys.argv[1], int(sys.argv[2])',
      'out = []',
      'for path, size in [("/add_key/dup/four.bin", 4 * 1024 * 1024)] * 12 + [("/add_key/dup/six.bin", 6 * 1024 * 1024)] * 4:',
      '    c = http.client.HTTPConnection(host, port, timeout=20)',
      '    try:',
      '        c.request("PUT", path, body=b"z" * size)',
      '        r = c.getresponse()',
      '        out.append([r.status, json.loads(r.read())])',
      '    except Exception as e:',
      '        out.append([type(e).__name__, None])',
      '    c.close()',
      'print(json.dumps(out))'
    ].join('\n')
    const u = new URL(peer.url)
    const res = await run('python3', ['-c', script, u.hostname, u.port])
    expect(res.stderr).toBe('')
    const answers = JSON.parse(res.stdout) as Array<[number | string, unknown]>
    expect(answers.map(a => a[0])).toEqual([...Array(12).fill(409), ...Array(4).fill(413)])
    expect(answers[0][1]).toEqual({ data: null, status: 'ko', msg: 'key already exists' })
    expect(answers[12][1]).toEqual({ data: null, status: 'ko', msg: 'max size allowed is 5MB' })
    expect((await http('GET', `${peer.url}/get_key/dup/four.bin`)).body.toString()).toBe('first')
  })

  it.skipIf(!hasCommand('curl'))('curl -T of an oversize body prints the 413 envelope, sized or chunked (item 8)', async () => {
    const file = join(dir, 'six.bin')
    writeFileSync(file, Buffer.alloc(6 * MIB, 3))
    const envelope = JSON.stringify({ data: null, status: 'ko', msg: 'max size allowed is 5MB' })
    for (let i = 0; i < 3; i++) {
      const sized = await run('curl', ['-sS', '-T', file, `${peer.url}/add_key/curl/sized${i}.bin`])
      expect(sized.stderr).toBe('')
      expect(sized.stdout).toBe(envelope)
      // `-T -` sends a chunked body: the limit is found while reading it.
      const chunked = await run('curl', ['-sS', '-T', '-', `${peer.url}/add_key/curl/chunked${i}.bin`], Buffer.alloc(6 * MIB, 4))
      expect(chunked.stderr).toBe('')
      expect(chunked.stdout).toBe(envelope)
    }
  })

  it('a prototype name is not a setting, a JSON body is stored byte for byte, deep JSON is 400 (item 6)', async () => {
    await waitFor(async () => (await http('GET', `${peer.url}/admin/config`)).status === 200, 15_000, 'a coordinator')
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const res = await http('GET', `${peer.url}/admin/config/${name}`)
      expect(res.status, name).toBe(404)
      expect(res.json).toEqual(KO)
    }
    for (const [key, text] of [['proto', '{"__proto__":{"polluted":1}}'], ['spaced', '{"b":1,  "a":[1.50, 2e3, "\\u00e9"]}']]) {
      expect((await http('PUT', `${peer.url}/admin/config/${key}`, text)).status).toBe(200)
      const one = await http('GET', `${peer.url}/admin/config/${key}`)
      expect(one.body.toString()).toBe(`{"data":${text},"status":"ok","msg":""}`)
      expect((await http('GET', `${peer.url}/admin/config`)).body.toString()).toContain(`${JSON.stringify(key)}:${text}`)
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    for (const deep of ['['.repeat(30_000) + ']'.repeat(30_000), '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000)]) {
      const res = await http('PUT', `${peer.url}/admin/config/deep`, deep)
      expect(res.status).toBe(400)
      expect(res.json).toEqual(KO)
    }
    expect((await http('GET', `${peer.url}/admin/config/deep`)).status).toBe(404)
  })

  it('malformed requests, oversized headers, unknown methods and expectations get the envelope (item 6)', async () => {
    const cases: Array<[string, number]> = [
      ['GET /admin/status HTTP/1.1 junk\r\n\r\n', 400],
      ['GET /x HTTP/9.z\r\n\r\n', 400],
      ['GET /admin/status HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n', 400],
      ['FOO /admin/status HTTP/1.1\r\nHost: x\r\n\r\n', 400],
      [`GET /admin/status HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
      ['PUT /add_key/expect.bin HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx', 417]
    ]
    for (const [request, status] of cases) {
      const res = await rawExchange(peer.url, request, { timeoutMs: 5000 })
      expect(res.status, request.slice(0, 40)).toBe(status)
      expect(res.json, request.slice(0, 40)).toEqual(KO)
      expect(res.text).toMatch(/content-type: application\/json/i)
    }
  })
})

describe('the per-address upload cap (issue 12 item 5)', () => {
  let peer: Peer
  beforeAll(async () => {
    peer = await startPeer({ env: { PMZ_MAX_UPLOADS_PER_CLIENT: '3', PMZ_BODY_IDLE_TIMEOUT_S: '3' } })
  })
  afterAll(cleanupPeers)

  it('answers 429 in the envelope beyond the cap, and takes uploads again once they are cut', async () => {
    const open = Array.from({ length: 3 }, async (_, i) =>
      await rawExchange(peer.url, uploadHead(`/add_key/cap/slow${i}.bin`, 1000) + 'x'.repeat(10), { timeoutMs: 30_000 }))
    let refused: Awaited<ReturnType<typeof http>> | undefined
    let n = 0
    await waitFor(async () => {
      const res = await http('PUT', `${peer.url}/add_key/cap/extra${n++}.bin`, 'x')
      if (res.status === 429) refused = res
      return refused !== undefined
    }, 10_000, 'an upload beyond the cap to be refused')
    expect(refused!.json).toEqual(KO)
    expect((await http('GET', `${peer.url}/admin/status`)).status).toBe(200)
    // The peer cuts the stalled ones (408); the connections it closed hold no slot.
    expect((await Promise.all(open)).map(r => [r.closed, r.status])).toEqual([[true, 408], [true, 408], [true, 408]])
    for (let i = 0; i < 3; i++) expect((await http('PUT', `${peer.url}/add_key/cap/after${i}.bin`, Buffer.alloc(100_000))).status).toBe(201)
  })
})
