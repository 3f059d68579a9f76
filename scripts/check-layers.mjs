#!/usr/bin/env node
// Fails when a lower layer imports a higher one (STYLE.md §1), `import type` included.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, dirname, resolve } from 'node:path'

const SRC = resolve(import.meta.dirname, '../src')
// What each folder may import besides common/ and config/ (STYLE.md §1 table).
const ALLOWED = {
  common: [],
  config: [],
  'mesh/transport': [],
  'mesh/discovery': [],
  'mesh/membership': ['mesh/transport', 'mesh/discovery'],
  ring: [],
  store: ['ring', 'mesh/membership', 'mesh/transport'],
  coordinator: ['store', 'mesh/membership', 'mesh/transport'],
  seeds: ['mesh/membership'],
  jobs: ['coordinator', 'seeds', 'store'],
  pipelines: ['jobs', 'seeds', 'store'],
  extensions: ['store', 'jobs', 'seeds'],
  backup: ['store'],
  http: ['*'],
  cli: ['*'],
  '.': ['*']
}

function layerOf (file) {
  const rel = relative(SRC, file).split('/')
  if (rel.length === 1) return '.'
  if (rel[0] === 'mesh') return `mesh/${rel[1]}`
  return rel[0]
}

function walk (dir) {
  return readdirSync(dir).flatMap(name => {
    const p = join(dir, name)
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : []
  })
}

const problems = []
for (const file of walk(SRC)) {
  const from = layerOf(file)
  const allowed = ALLOWED[from]
  if (allowed === undefined) { problems.push(`${relative(SRC, file)}: folder not in the layer table`); continue }
  if (allowed.includes('*')) continue
  const text = readFileSync(file, 'utf8')
  for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    const target = layerOf(resolve(dirname(file), m[1]))
    if (target === from || target === 'common' || target === 'config') continue
    if (!allowed.includes(target)) problems.push(`${relative(SRC, file)} imports ${m[1]} (${from} may not import ${target})`)
  }
}
if (problems.length > 0) {
  console.error(`upward or sideways imports:\n  ${problems.join('\n  ')}`)
  process.exit(1)
}
console.log('layers ok')
