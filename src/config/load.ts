import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseIni } from 'ini'
import { PmzError } from '../common/errors.js'
import { DEFAULTS, type PmzConfig } from './defaults.js'
import { IGNORED_INI_KEYS, InvalidValue, OPTIONS, type OptionSpec } from './options.js'

/** The file read when no `--config` (or `PMZ_CONFIG`) names one, if it exists. */
export const DEFAULT_CONFIG_FILE = 'config/server.conf'

export interface LoadConfigInit {
  /** `--config FILE`; must exist when given. */
  configFile?: string
  /** The environment; `PMZ_*` variables override the file. */
  env?: Record<string, string | undefined>
  /** Parsed `pmz node` flags (commander's camelCase names), raw strings; they override everything. */
  flags?: Record<string, unknown>
  /** Directory relative paths resolve against. */
  cwd?: string
}

export interface LoadedConfig {
  config: PmzConfig
  /** The file read, if any. */
  file?: string
  /** Keys the file has that pmz ignores, to log once at start. */
  warnings: string[]
}

/**
 * Builds the one frozen config: built-in defaults, then server.conf, then
 * `PMZ_*` variables, then flags. A bad value throws ERR_CONFIG_INVALID naming
 * the key, where it came from and what was expected.
 */
export function loadConfig (init: LoadConfigInit = {}): LoadedConfig {
  const env = init.env ?? {}
  const cwd = init.cwd ?? process.cwd()
  const values = structuredClone(DEFAULTS) as unknown as Record<string, Record<string, unknown>>
  const warnings: string[] = []

  const explicit = init.configFile ?? env.PMZ_CONFIG
  const file = explicit !== undefined ? resolve(cwd, explicit) : resolve(cwd, DEFAULT_CONFIG_FILE)
  let fileRead: string | undefined
  if (existsSync(file)) {
    readIniFile(file, values, warnings)
    fileRead = file
  } else if (explicit !== undefined) {
    throw new PmzError('ERR_CONFIG_INVALID', `config file not found: ${file}`)
  }

  for (const opt of OPTIONS) {
    const raw = env[opt.env]
    if (raw !== undefined) assign(values, opt, raw, `environment variable ${opt.env}`)
  }
  for (const opt of OPTIONS) {
    const raw = opt.flag !== undefined ? init.flags?.[opt.flag] : undefined
    if (raw !== undefined && raw !== null && raw !== false) assign(values, opt, String(raw), `flag --${kebab(opt.flag as string)}`)
  }

  const config = values as unknown as PmzConfig
  if (config.store.writeQuorum > config.store.replicas) {
    throw new PmzError('ERR_CONFIG_INVALID',
      `write quorum (${config.store.writeQuorum}) is larger than the replica count (${config.store.replicas}); expected write_quorum <= replicas`)
  }
  values.node.dataDir = resolve(cwd, config.node.dataDir)
  values.node.seedsDir = resolve(cwd, config.node.seedsDir)
  if (config.pipelines.rxDir !== '') values.pipelines.rxDir = resolve(cwd, config.pipelines.rxDir)
  return { config: deepFreeze(config), file: fileRead, warnings }
}

function readIniFile (file: string, values: Record<string, Record<string, unknown>>, warnings: string[]): void {
  const text = readFileSync(file, 'utf8')
  let parsed: Record<string, unknown>
  try {
    parsed = parseIni(text)
  } catch (err) {
    throw new PmzError('ERR_CONFIG_INVALID', `${file}: not a valid INI file: ${(err as Error).message}`)
  }
  for (const [section, body] of Object.entries(parsed)) {
    if (body === null || typeof body !== 'object') {
      throw new PmzError('ERR_CONFIG_INVALID', `${file}:${lineOf(text, undefined, section)}: key "${section}" is outside any [section]`)
    }
    for (const [key, raw] of Object.entries(body as Record<string, unknown>)) {
      const name = `${section}.${key}`
      const opt = OPTIONS.find(o => o.ini === name)
      if (opt === undefined) {
        warnings.push(IGNORED_INI_KEYS.includes(name)
          ? `${file}: [${section}] ${key} is a Pulzar key pmz ignores`
          : `${file}:${lineOf(text, section, key)}: unknown key [${section}] ${key} ignored`)
        continue
      }
      assign(values, opt, String(raw), `${file}:${lineOf(text, section, key)}: [${section}] ${key}`)
    }
  }
}

function assign (values: Record<string, Record<string, unknown>>, opt: OptionSpec, raw: string, source: string): void {
  const [section, field] = opt.path.split('.') as [string, string]
  try {
    values[section][field] = opt.parse(raw)
  } catch (err) {
    if (!(err instanceof InvalidValue)) throw err
    throw new PmzError('ERR_CONFIG_INVALID', `${source}: ${err.message}`, { details: { key: opt.ini, source } })
  }
}

/** The 1-based line of `key` inside `[section]` (or before any section), for error messages. */
function lineOf (text: string, section: string | undefined, key: string): number {
  let current: string | undefined
  const lines = text.split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    const header = /^\[([^\]]+)\]$/.exec(line)
    if (header !== null) {
      current = header[1].trim()
      continue
    }
    const m = /^([^=;#]+?)\s*=/.exec(line)
    if (m !== null && m[1] === key && current === section) return i + 1
  }
  return 0
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)

function deepFreeze<T> (o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

/** The default gateway of the client subcommands. */
export const DEFAULT_GATEWAY = 'http://127.0.0.1:31414'

/** Where client subcommands send requests: `--gateway`, else `PMZ_GATEWAY`, else the default. */
export function resolveGateway (flag: string | undefined, env: Record<string, string | undefined> = {}): string {
  const raw = (flag ?? env.PMZ_GATEWAY ?? DEFAULT_GATEWAY).trim()
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new PmzError('ERR_CONFIG_INVALID', `--gateway: expected an http:// URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new PmzError('ERR_CONFIG_INVALID', `--gateway: expected an http:// URL, got "${raw}"`)
  return raw.replace(/\/+$/, '')
}

/** The bearer token client subcommands send: `PMZ_TOKEN`, when set and not empty. */
export function resolveToken (env: Record<string, string | undefined> = {}): string | undefined {
  const raw = env.PMZ_TOKEN?.trim()
  return raw === undefined || raw === '' ? undefined : raw
}

/** Whether binding `host` keeps the peer on this machine (loopback only). */
export function isLoopbackHost (host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)
}
