import { META_FIELD_MAX_CHARS } from './constants.js'

/**
 * What a seed declares about itself: the fields of Pulzar's `admin/job_catalog`
 * (pulzar-api.md §9.3). Absent fields are `''`, as Pulzar lists them.
 */
export interface SeedMeta {
  /** What the seed does. */
  description: string
  /** Its arguments, as free text (usually JSON): a module's non-string `args` is given as its JSON. */
  args: string
  /** Upper-cased, as Pulzar shows it (`MATH`). */
  category: string
  author: string
}

/** The meta of a seed that declares nothing. */
export const EMPTY_META: Readonly<SeedMeta> = Object.freeze({ description: '', args: '', category: '', author: '' })

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** A field as text, bounded (a catalog is gossiped: one seed must not make it huge). */
function text (x: unknown): string {
  if (x === undefined || x === null) return ''
  let s: string
  if (typeof x === 'string') s = x
  else {
    try {
      s = JSON.stringify(x) ?? ''
    } catch {
      s = '' // a cycle or a BigInt: not describable
    }
  }
  s = s.trim()
  return s.length > META_FIELD_MAX_CHARS ? `${s.slice(0, META_FIELD_MAX_CHARS - 1)}…` : s
}

/** Builds a meta from a record with Pulzar's or pmz's spellings (`args` or `arguments`). */
export function metaFrom (x: unknown): SeedMeta {
  if (!isObj(x)) return { ...EMPTY_META }
  return {
    description: text(x.description),
    args: text(x.args ?? x.arguments),
    category: text(x.category).toUpperCase(),
    author: text(x.author)
  }
}

/**
 * A module's declared meta: its `meta` export, or the `meta` of its default
 * export when that is an object (DESIGN.md "Seeds": a module may export an
 * object with `run`, limits...).
 */
export function moduleMeta (exports: Readonly<Record<string, unknown>> | undefined): SeedMeta {
  if (exports === undefined) return { ...EMPTY_META }
  const def = exports.default
  const meta = exports.meta ?? (isObj(def) ? def.meta : undefined)
  return metaFrom(meta)
}

/**
 * Finds `def execute(self...):` and the string literal that opens its body.
 * Comments and blank lines may come between; the literal is triple-quoted or
 * on one line, with an optional r/u prefix.
 */
const EXECUTE_DOC = /^[ \t]*def[ \t]+execute[ \t]*\([^)]*\)[^:\n]*:[ \t]*(?:#[^\n]*)?\r?\n(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*[rRuU]?("""|'''|"|')/m

/** The docstring of a Pulzar script's `execute()`, read from the file's text without running Python; undefined when it has none. */
export function executeDocstring (source: string): string | undefined {
  const m = EXECUTE_DOC.exec(source)
  if (m === null) return undefined
  const quote = m[1]
  const start = m.index + m[0].length
  const end = source.indexOf(quote, start)
  if (end === -1) return undefined
  const doc = source.slice(start, end)
  return quote.length === 1 && doc.includes('\n') ? undefined : doc
}

const DOC_KEYS: Readonly<Record<string, keyof SeedMeta>> = {
  description: 'description', arguments: 'args', args: 'args', category: 'category', author: 'author'
}

/**
 * A Pulzar script's meta (pulzar-api.md §7): the `Description:`,
 * `Arguments:`, `Category:` and `Author:` lines of `execute()`'s docstring.
 * A line that names no field continues the previous field (long argument
 * lists are often wrapped).
 */
export function pythonMeta (source: string): SeedMeta {
  const doc = executeDocstring(source)
  if (doc === undefined) return { ...EMPTY_META }
  const fields: Partial<Record<keyof SeedMeta, string>> = {}
  let current: keyof SeedMeta | undefined
  for (const raw of doc.split(/\r?\n/)) {
    const line = raw.trim()
    const m = /^([A-Za-z]+)[ \t]*:(.*)$/.exec(line)
    const key = m === null ? undefined : DOC_KEYS[m[1].toLowerCase()]
    if (m !== null && key !== undefined) {
      current = key
      fields[key] = m[2].trim()
    } else if (current !== undefined && line !== '') {
      fields[current] = `${fields[current] ?? ''} ${line}`.trim()
    } else {
      current = undefined
    }
  }
  return metaFrom(fields)
}

/** An executable's meta from the text of its sidecar `NAME.json`; throws when that is not a JSON object. */
export function sidecarMeta (json: string): SeedMeta {
  const parsed: unknown = JSON.parse(json)
  if (!isObj(parsed)) throw new Error('a sidecar must hold a JSON object')
  return metaFrom(parsed)
}
