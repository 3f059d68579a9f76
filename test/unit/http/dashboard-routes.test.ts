import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemClock } from '../../../src/common/clock.js'
import { createLogger } from '../../../src/common/logger.js'
import { loadDashboardAssets, WEB_DIR } from '../../../src/http/dashboard-assets.js'
import { mountDashboardRoutes } from '../../../src/http/dashboard-routes.js'
import { errorHandler } from '../../../src/http/error-mapper.js'
import { createGateway, type Gateway } from '../../../src/http/index.js'
import { createStore, type Store } from '../../../src/store/index.js'
import { noExtensions, stubCoordinator } from '../../helpers/gateway-stubs.js'
import { http } from '../../helpers/http.js'
import { cleanupPeers, REPO, tempDir } from '../../helpers/peer.js'

const log = createLogger({ level: 'silent' })
const noCoordinator = stubCoordinator()

describe('the dashboard routes', () => {
  let store: Store
  let gateway: Gateway
  let url: string

  beforeAll(async () => {
    store = createStore({ clock: systemClock, log }, { dir: tempDir(), peerId: 'p1' })
    await store.start()
    gateway = createGateway({ store, network: { peers: async () => [] }, extensions: noExtensions, coordinator: noCoordinator, clock: systemClock, log },
      { self: { id: 'p1', version: 'test' }, host: '127.0.0.1', port: 0, token: 's3cret' })
    await gateway.start()
    url = gateway.url()
  })

  afterAll(async () => {
    await gateway.stop()
    await store.stop()
    await cleanupPeers()
  })

  it('serves the page at / without the token, its inline import map allowed by digest and nothing from elsewhere', async () => {
    const res = await http('GET', `${url}/`)
    expect(res.status).toBe(200)
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8')
    const html = res.body.toString()
    expect(html).toContain('<script type="module" src="dashboard/app.js">')
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]
    const csp = String(res.headers['content-security-policy'])
    expect(csp).toContain(`'sha256-${createHash('sha256').update(map).digest('base64')}'`)
    expect(csp).toContain("default-src 'self'")
    // No URL of another host anywhere in the page or its modules: it works on a LAN without internet.
    for (const body of [html, ...[...loadDashboardAssets().entries()].filter(([p]) => !p.includes('/vendor/')).map(([, a]) => a.body.toString())]) {
      expect(body).not.toMatch(/(?:src|href)=["']?(?:https?:)?\/\//)
      expect(body).not.toMatch(/from ['"]https?:/)
    }
    expect((await http('HEAD', `${url}/`)).status).toBe(200)
  })

  it('serves every module the page imports, its import map\'s vendor files included, with a validator', async () => {
    const html = (await http('GET', `${url}/`)).body.toString()
    const imports = JSON.parse(/<script type="importmap">([\s\S]*?)<\/script>/.exec(html)![1]).imports as Record<string, string>
    const seen = new Set<string>()
    const queue = ['/dashboard/app.js', ...Object.values(imports).map(u => u.replace(/^\./, ''))]
    while (queue.length > 0) {
      const path = queue.shift() as string
      if (seen.has(path)) continue
      seen.add(path)
      const res = await http('GET', `${url}${path}`)
      expect(res.status, path).toBe(200)
      expect(res.headers['content-type'], path).toBe('text/javascript; charset=utf-8')
      for (const [, spec] of res.body.toString().matchAll(/(?:import|from)\s*['"]([^'"]+)['"]/g)) {
        if (spec.startsWith('.')) queue.push(new URL(spec, `http://x${path}`).pathname)
        else expect(imports[spec], `${path} imports ${spec}, not in the import map`).toBeDefined()
      }
    }
    expect(seen.size).toBeGreaterThan(10)
    const css = await http('GET', `${url}/dashboard/style.css`)
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8')
    const again = await http('GET', `${url}/dashboard/style.css`, undefined, { 'if-none-match': String(css.headers.etag) })
    expect(again.status).toBe(304)
  })

  it('the vendor files are the installed packages\' ES modules', () => {
    const assets = loadDashboardAssets()
    const preact = readFileSync(join(REPO, 'node_modules/preact/dist/preact.mjs'))
    expect(assets.get('/dashboard/vendor/preact.mjs')?.body.equals(preact)).toBe(true)
    expect(assets.get('/dashboard/vendor/htm.mjs')?.body.toString()).toMatch(/export\s*\{|export default/)
    expect(WEB_DIR).toBe(join(REPO, 'web/'))
  })

  it('keeps Pulzar\'s answers elsewhere: 404 envelope for unknown files and paths, 405 for a write to /, the token on admin routes', async () => {
    for (const path of ['/dashboard/nope.js', '/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/dashboard/', '/nothing']) {
      const res = await http('GET', `${url}${path}`)
      expect(res.status, path).toBe(404)
      expect(res.json, path).toEqual({ data: null, status: 'ko', msg: 'Wrong query, route not found' })
    }
    const post = await http('POST', `${url}/`, '', { authorization: 'Bearer s3cret' })
    expect(post.status).toBe(405)
    expect((await http('GET', `${url}/admin/status`)).status).toBe(401)
  })

  it('a peer whose files are missing still starts: the page is 404, and it says why in its log', async () => {
    const lines: string[] = []
    const app = Fastify()
    app.setErrorHandler(errorHandler(log, () => false, async () => {}))
    mountDashboardRoutes(app, createLogger({ level: 'warn', destination: { write: (l: string) => { lines.push(l) } } }), { webDir: join(tempDir(), 'missing') })
    const res = await app.inject({ method: 'GET', url: '/' })
    expect(res.statusCode).toBe(404)
    expect(lines.join('')).toContain('dashboard files missing')
    await app.close()
  })
})
