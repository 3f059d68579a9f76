import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** One file the dashboard serves, read once. */
export interface Asset {
  body: Buffer
  type: string
  /** Strong validator: a digest of the body. */
  etag: string
  /** Extra headers (the page's Content-Security-Policy). */
  headers: Record<string, string>
}

/** The page's files in the package: `web/` at its root, beside `dist/` and `src/` (this file is in `<either>/http/`). */
export const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url))

/** URL prefix of the dashboard's files; the page itself is `/`. */
export const DASHBOARD_PREFIX = '/dashboard/'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml'
}

/**
 * The UI library's ES modules, served from the installed packages (wherever
 * npm put them) under `dashboard/vendor/`, named by the page's import map.
 */
const VENDOR: ReadonlyArray<{ name: string, resolve: (req: NodeJS.Require) => string }> = [
  { name: 'preact.mjs', resolve: req => req.resolve('preact') },
  { name: 'preact-hooks.mjs', resolve: req => req.resolve('preact/hooks') },
  // htm's `require` condition is its CommonJS build; its ES module sits beside it.
  { name: 'htm.mjs', resolve: req => join(dirname(req.resolve('htm')), 'htm.module.js') }
]

/**
 * Every file of the dashboard by URL path: `/` (the page), `/dashboard/...`
 * (its modules and styles) and `/dashboard/vendor/...` (preact, htm). Read
 * once, at start: a few tens of KiB, and no path from a request ever reaches
 * the file system. Throws when a file cannot be read (a broken install).
 */
export function loadDashboardAssets (webDir = WEB_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>()
  for (const file of walk(webDir)) {
    const type = TYPES[extname(file)]
    if (type === undefined) continue
    const path = relative(webDir, file).split(sep).join('/')
    assets.set(`${DASHBOARD_PREFIX}${path}`, asset(readFileSync(file), type))
  }
  const req = createRequire(import.meta.url)
  for (const v of VENDOR) assets.set(`${DASHBOARD_PREFIX}vendor/${v.name}`, asset(readFileSync(v.resolve(req)), TYPES['.mjs']))
  const page = assets.get(`${DASHBOARD_PREFIX}index.html`)
  if (page !== undefined) assets.set('/', { ...page, headers: { 'content-security-policy': pagePolicy(page.body.toString('utf8')) } })
  return assets
}

/**
 * Nothing but this peer: scripts, styles, images and requests. The inline
 * import map (browsers take no external one) is allowed by its digest, so no
 * other inline script runs, and a key name shown on the page can never
 * become code.
 */
function pagePolicy (html: string): string {
  const inline = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)]
    .map(m => `'sha256-${createHash('sha256').update(m[1], 'utf8').digest('base64')}'`)
  return ["default-src 'self'", `script-src 'self' ${inline.join(' ')}`.trim(), "style-src 'self'", "img-src 'self' data:",
    "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"].join('; ')
}

function asset (body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`, headers: {} }
}

function walk (dir: string): string[] {
  return readdirSync(dir).sort().flatMap(name => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : [p]
  })
}
