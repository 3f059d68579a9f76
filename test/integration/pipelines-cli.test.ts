import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../src/common/clock.js'
import { createLogger } from '../../src/common/logger.js'
import { createGateway, type Gateway } from '../../src/http/index.js'
import type { PipelineService } from '../../src/pipelines/types.js'
import { createStore, type Store } from '../../src/store/index.js'
import { noExtensions, stubCoordinator } from '../helpers/gateway-stubs.js'
import { cleanupPeers, runCli, tempDir } from '../helpers/peer.js'
import { fakePipelines } from '../helpers/pipelines.js'

const log = createLogger({ level: 'silent' })
const coordinator = stubCoordinator(true)

/** The real `bin/pmz` against an in-process gateway whose pipelines are a fake that records its calls. */
describe('pmz inject and pmz pipeline', () => {
  const stores: Store[] = []
  const gateways: Gateway[] = []
  const fake = fakePipelines()
  let gw: string[]
  let bare: string[]
  let dir: string

  async function start (pipelines: PipelineService | undefined): Promise<string> {
    const store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    stores.push(store)
    const gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator, pipelines, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0, stopGraceMs: 1000 })
    await gateway.start()
    gateways.push(gateway)
    return gateway.url()
  }

  beforeAll(async () => {
    gw = ['--gateway', await start(fake.service)]
    bare = ['--gateway', await start(undefined)]
    dir = tempDir()
  })
  afterAll(async () => {
    for (const g of gateways) await g.stop()
    for (const s of stores) await s.stop()
    await cleanupPeers()
  })

  it('injects a file as bytes, stdin, and JSON with --json, printing the packet id', async () => {
    const file = join(dir, 'photo.bin')
    writeFileSync(file, Buffer.from([1, 2, 3]))
    const bytes = await runCli(['inject', 'names', file, '--key', 'k1', '--priority', '7', ...gw])
    expect(bytes.stderr).toBe('')
    expect(bytes.code).toBe(0)
    expect(bytes.stdout.toString()).toMatch(/^p1:\d+\n$/)
    expect(fake.calls.at(-1)).toEqual({ op: 'inject', tag: 'names', payload: Buffer.from([1, 2, 3]), options: { key: 'k1', priority: 7 } })

    expect((await runCli(['inject', 'names', '-', ...gw], { input: Buffer.from('from stdin') })).code).toBe(0)
    expect(fake.calls.at(-1)).toMatchObject({ payload: Buffer.from('from stdin'), options: {} })

    const json = await runCli(['inject', 'names', '-', '--json', ...gw], { input: Buffer.from('{"name":"World"}') })
    expect(json.code).toBe(0)
    expect(fake.calls.at(-1)).toMatchObject({ payload: { name: 'World' } })
  })

  it('fails in one line: bad priority, not JSON, a missing file, no consumer, no pipelines on the peer', async () => {
    const before = fake.calls.length
    const cases: Array<[string[], RegExp, Buffer?]> = [
      [['inject', 'names', '-', '--priority', '12', ...gw], /^pmz: --priority: expected an integer from 0 to 9, got "12"\n$/],
      [['inject', 'names', '-', '--json', ...gw], /^pmz: stdin is not JSON: .*\n$/, Buffer.from('{nope')],
      [['inject', 'names', join(dir, 'missing'), ...gw], /^pmz: cannot read .*missing: ENOENT\n$/],
      [['inject', 'nobody', '-', ...gw], /^pmz: no stage consumes tag nobody \(HTTP 404\)\n$/, Buffer.from('x')],
      [['pipeline', 'status', ...bare], /^pmz: pipelines are not running on this peer \(HTTP 503\)\n$/],
      [['pipeline', 'events', 'Bad', ...gw], /^pmz: an event is start, pause, resume, stop, kill or a custom name/]
    ]
    for (const [args, stderr, input] of cases) {
      const r = await runCli(args, { input })
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr, args.join(' ')).toMatch(stderr)
    }
    expect(fake.calls.length).toBe(before)
  })

  it('shows the stages as a table, or JSON', async () => {
    const table = await runCli(['pipeline', 'status', ...gw])
    expect(table.code).toBe(0)
    const lines = table.stdout.toString().trimEnd().split('\n')
    expect(lines[0]).toMatch(/^STAGE\s+CONSUMES\s+PRODUCES\s+PEER\s+STATE\s+INST\s+INBOX/)
    expect(lines.slice(1).map(l => l.split(/\s+/).slice(0, 5).join(' '))).toEqual([
      'pumpkin/greet names greetings p1 running', 'pumpkin/greet names greetings p2 paused', 'pumpkin/extract greetings - - -'
    ])
    const json = await runCli(['pipeline', 'status', '--json', ...gw])
    expect(JSON.parse(json.stdout.toString()).tags).toEqual({ names: ['pumpkin/greet'], greetings: ['pumpkin/extract'] })
  })

  it('sends events with --stages and --args, and re-drives dead letters', async () => {
    const ev = await runCli(['pipeline', 'events', 'pause', '--stages', 'pumpkin/greet', '--args', '{"why":"maintenance"}', ...gw])
    expect(ev.code).toBe(0)
    expect(ev.stdout.toString()).toBe('Event pause sent to 1 stage: pumpkin/greet\n')
    expect(fake.calls.at(-1)).toEqual({ op: 'event', name: 'pause', body: { stages: ['pumpkin/greet'], args: { why: 'maintenance' } } })
    expect((await runCli(['pipeline', 'events', 'resume', ...gw])).code).toBe(0)
    expect(fake.calls.at(-1)).toEqual({ op: 'event', name: 'resume', body: {} })

    const rd = await runCli(['pipeline', 'redrive', 'pumpkin/greet', ...gw])
    expect(rd.code).toBe(0)
    expect(rd.stdout.toString()).toBe('1 dead letter of pumpkin/greet sent again\n')
    expect(fake.calls.at(-1)).toEqual({ op: 'redrive', stage: 'pumpkin/greet' })
  })
})
