import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it } from 'vitest'
import { http } from '../helpers/http.js'
import { PMZ, REPO, cleanupPeers, startPeer, tempDir } from '../helpers/peer.js'

const NODE_ARGS = ['node', '--host', '127.0.0.1', '--http-port', '0', '--mesh-port', '0', '--discovery', 'static']
const running = new Set<ChildProcess>()

/** Spawns `command` in its own process group and resolves with its output lines once one matches `until`. */
async function linesUntil (command: string, args: string[], until: RegExp, timeoutMs = 20_000): Promise<string[]> {
  const proc = spawn(command, args, { cwd: REPO, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PMZ_LOG_LEVEL: 'info' } })
  running.add(proc)
  const lines: string[] = []
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no line matching ${String(until)} within ${timeoutMs} ms:\n${lines.join('\n')}`)) }, timeoutMs)
    const onLine = (line: string): void => {
      lines.push(line)
      if (until.test(line)) {
        clearTimeout(timer)
        resolve(lines)
      }
    }
    createInterface({ input: proc.stdout! }).on('line', onLine)
    createInterface({ input: proc.stderr! }).on('line', onLine)
    proc.once('exit', code => { clearTimeout(timer); reject(new Error(`exited (${String(code)}):\n${lines.join('\n')}`)) })
  })
}

describe('peer logs', () => {
  afterEach(async () => {
    for (const proc of running) {
      const gone = new Promise(resolve => proc.once('exit', resolve))
      try { process.kill(-(proc.pid as number), 'SIGKILL') } catch {}
      if (proc.exitCode === null && proc.signalCode === null) await gone
    }
    running.clear()
    await cleanupPeers()
  })

  it('are one readable line per event on a terminal, and JSON lines elsewhere', async ctx => {
    const hasScript = spawnSync('script', ['--version']).status === 0
    if (!hasScript) {
      console.warn('skipped: util-linux `script` (to give the peer a terminal) is not installed')
      ctx.skip()
      return
    }
    // script(1) runs the peer on a pseudo-terminal: stdout is a TTY there.
    const cmd = [process.execPath, PMZ, ...NODE_ARGS, '--data', tempDir()].map(a => `'${a}'`).join(' ')
    const lines = await linesUntil('script', ['-qec', cmd, '/dev/null'], /pmz ready/)
    const ready = lines.find(l => l.includes('pmz ready'))!
    expect(ready.trimStart().startsWith('{')).toBe(false)
    expect(ready).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] .*INFO.*pmz ready.*http:\/\/127\.0\.0\.1:\d+/)

    // Not a terminal (a pipe): JSON lines, which is what startPeer parses.
    const piped = await startPeer()
    expect(() => JSON.parse(piped.lines.find(l => l.includes('pmz ready'))!) as unknown).not.toThrow()
  })

  it('--log-format pretty and json choose the format whatever the output is', async () => {
    const pretty = await linesUntil(process.execPath, [PMZ, ...NODE_ARGS, '--data', tempDir(), '--log-format', 'pretty'], /pmz ready/)
    expect(pretty.at(-1)).toMatch(/^\[[\d:.]+\] INFO: pmz ready \{"peer":/)
    const json = await startPeer({ args: ['--log-format', 'json'] })
    expect(json.lines.every(l => l.startsWith('{'))).toBe(true)
  })

  it('at debug, logs one access line per request', async () => {
    const peer = await startPeer({ args: ['--log-level', 'debug'] })
    expect((await http('GET', `${peer.url}/admin/status`)).status).toBe(200)
    expect((await http('GET', `${peer.url}/get_key/no/such`)).status).toBe(404)
    const access = (): Array<Record<string, unknown>> => peer.lines.map(l => JSON.parse(l) as Record<string, unknown>).filter(l => l.msg === 'request')
    await expect.poll(() => access().length, { timeout: 5000 }).toBe(2)
    expect(access()[0]).toMatchObject({ level: 20, method: 'GET', url: '/admin/status', status: 200, ms: expect.any(Number) })
    expect(access()[1]).toMatchObject({ url: '/get_key/no/such', status: 404 })

    const quiet = await startPeer()
    await http('GET', `${quiet.url}/admin/status`)
    expect(quiet.lines.some(l => l.includes('"msg":"request"'))).toBe(false)
  })
})
