import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { PmzError } from '../../../src/common/errors.js'
import { createLogger } from '../../../src/common/logger.js'
import { createGateway, type Gateway } from '../../../src/http/index.js'
import type { PipelineService } from '../../../src/pipelines/types.js'
import { createStore, type Store } from '../../../src/store/index.js'
import { noExtensions, stubCoordinator } from '../../helpers/gateway-stubs.js'
import { http } from '../../helpers/http.js'
import { cleanupPeers, tempDir } from '../../helpers/peer.js'
import { SAMPLE_STATUS, fakePipelines } from '../../helpers/pipelines.js'

const log = createLogger({ level: 'silent' })
const coordinator = stubCoordinator(true)

describe('the pipelines routes', () => {
  const stores: Store[] = []
  const gateways: Gateway[] = []
  const fake = fakePipelines()
  let url: string
  let bare: string

  async function start (pipelines: PipelineService | undefined, token?: string): Promise<string> {
    const store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    stores.push(store)
    const gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator, pipelines, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0, stopGraceMs: 1000, maxsizeMb: 1, token })
    await gateway.start()
    gateways.push(gateway)
    return gateway.url()
  }

  beforeAll(async () => {
    url = await start(fake.service)
    bare = await start(undefined)
  })
  afterAll(async () => {
    for (const g of gateways) await g.stop()
    for (const s of stores) await s.stop()
    await cleanupPeers()
  })
  const last = (): unknown => fake.calls.at(-1)

  it('injects a JSON body as its parsed value, with key and priority from headers', async () => {
    const res = await http('POST', `${url}/pipelines/inject/names`, '{"name":"World"}',
      { 'content-type': 'application/json; charset=utf-8', 'x-pmz-key': 'user-7', 'x-pmz-priority': '9' })
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ data: { id: expect.any(String) }, status: 'ok', msg: expect.any(String) })
    expect(last()).toEqual({ op: 'inject', tag: 'names', payload: { name: 'World' }, options: { key: 'user-7', priority: 9 } })
  })

  it('injects any other body as its bytes, with key and priority from the query', async () => {
    const bytes = Buffer.from([0, 1, 2, 255])
    const res = await http('POST', `${url}/pipelines/inject/names?key=k%201&priority=0`, bytes, { 'content-type': 'application/octet-stream' })
    expect(res.status).toBe(200)
    const call = last() as { payload: unknown, options: unknown }
    expect(Buffer.isBuffer(call.payload)).toBe(true)
    expect((call.payload as Buffer).equals(bytes)).toBe(true)
    expect(call.options).toEqual({ key: 'k 1', priority: 0 })
    // No body and no options: an empty Buffer and nothing else.
    expect((await http('POST', `${url}/pipelines/inject/names`)).status).toBe(200)
    expect(last()).toEqual({ op: 'inject', tag: 'names', payload: Buffer.alloc(0), options: {} })
  })

  it('refuses a priority outside 0-9, broken JSON and a body over maxsize, with 400/413 and nothing injected', async () => {
    const before = fake.calls.length
    for (const p of ['10', '-1', '1.5', 'high', '']) {
      const res = await http('POST', `${url}/pipelines/inject/names?priority=${p}`, 'x')
      expect(res.status, `priority ${p}`).toBe(400)
      expect(res.json).toMatchObject({ status: 'ko', data: null, msg: 'priority must be an integer from 0 to 9' })
    }
    expect((await http('POST', `${url}/pipelines/inject/names`, '{nope', { 'content-type': 'application/json' })).status).toBe(400)
    const big = await http('POST', `${url}/pipelines/inject/names`, Buffer.alloc(1024 * 1024 + 1))
    expect(big.status).toBe(413)
    expect(big.json?.msg).toBe('max size allowed is 1MB')
    expect(fake.calls.length).toBe(before)
  })

  it('maps the service errors as the rest of the gateway does', async () => {
    const none = await http('POST', `${url}/pipelines/inject/nobody-listens`, 'x')
    expect(none.status).toBe(404)
    expect(none.json).toMatchObject({ status: 'ko', msg: 'no stage consumes tag nobody-listens' })
    fake.fail(new PmzError('ERR_QUORUM_NOT_MET', 'not now'))
    expect((await http('POST', `${url}/pipelines/inject/names`, 'x')).status).toBe(503)
    fake.fail(new Error('a bug'))
    const bug = await http('GET', `${url}/admin/pipelines`)
    expect(bug.status).toBe(500)
    expect(bug.json?.msg).toBe('internal error')
  })

  it('shows the graph at GET /admin/pipelines', async () => {
    const res = await http('GET', `${url}/admin/pipelines`)
    expect(res.status).toBe(200)
    expect(res.json).toEqual({ data: SAMPLE_STATUS, status: 'ok', msg: '' })
  })

  it('sends lifecycle and custom events with their optional stages and args', async () => {
    const start = await http('POST', `${url}/pipelines/events/pause`)
    expect(start.status).toBe(200)
    expect(start.json?.data).toEqual({ event: 'pause', stages: ['pumpkin/greet', 'pumpkin/extract'] })
    expect(last()).toEqual({ op: 'event', name: 'pause', body: {} })
    const custom = await http('POST', `${url}/pipelines/events/reload_model`, '{"stages":["pumpkin/greet"],"args":{"v":2}}', { 'content-type': 'application/json' })
    expect(custom.json?.data).toEqual({ event: 'reload_model', stages: ['pumpkin/greet'] })
    expect(last()).toEqual({ op: 'event', name: 'reload_model', body: { stages: ['pumpkin/greet'], args: { v: 2 } } })
  })

  it('refuses bad event names and bodies with 400', async () => {
    for (const name of ['Pause', '9lives', 'a.b', 'x'.repeat(65)]) {
      expect((await http('POST', `${url}/pipelines/events/${name}`)).status, name).toBe(400)
    }
    for (const body of ['[1]', '{"stages":"a"}', '{"stages":[1]}', '{"stage":["a"]}', 'nope']) {
      expect((await http('POST', `${url}/pipelines/events/stop`, body)).status, body).toBe(400)
    }
  })

  it('re-drives the dead letters of a stage whose name has a slash', async () => {
    const res = await http('POST', `${url}/pipelines/dlq/pumpkin/greet/redrive`)
    expect(res.status).toBe(200)
    expect(res.json?.data).toEqual({ stage: 'pumpkin/greet', redriven: 1 })
    expect(last()).toEqual({ op: 'redrive', stage: 'pumpkin/greet' })
    expect((await http('POST', `${url}/pipelines/dlq/pumpkin%2Fgreet/redrive`)).status).toBe(200)
    expect((await http('POST', `${url}/pipelines/dlq/pumpkin/nothing/redrive`)).status).toBe(404)
    expect((await http('POST', `${url}/pipelines/dlq/pumpkin/greet`)).status).toBe(404)
    expect((await http('POST', `${url}/pipelines/dlq/greet/redrive`)).status).toBe(404)
  })

  it('answers a wrong method with 405', async () => {
    const res = await http('GET', `${url}/pipelines/inject/names`)
    expect(res.status).toBe(405)
    expect(res.headers.allow).toBe('POST, OPTIONS')
  })

  it('answers 503 on a peer without the pipelines service', async () => {
    for (const [method, path] of [['POST', '/pipelines/inject/names'], ['GET', '/admin/pipelines'], ['POST', '/pipelines/events/start'],
      ['POST', '/pipelines/dlq/pumpkin/greet/redrive']]) {
      const res = await http(method, `${bare}${path}`, method === 'GET' ? undefined : 'x')
      expect(res.status, path).toBe(503)
      expect(res.json).toMatchObject({ status: 'ko', msg: 'pipelines are not running on this peer' })
    }
  })

  it('asks for the bearer token when one is configured', async () => {
    const guarded = await start(fake.service, 'sekret')
    expect((await http('POST', `${guarded}/pipelines/inject/names`, 'x')).status).toBe(401)
    expect((await http('GET', `${guarded}/admin/pipelines`)).status).toBe(401)
    expect((await http('POST', `${guarded}/pipelines/inject/names`, 'x', { authorization: 'Bearer sekret' })).status).toBe(200)
  })
})
