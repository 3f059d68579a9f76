import type { Clock } from '../common/clock.js'
import type { Logger } from '../common/logger.js'
import type { Startable } from '../common/startable.js'
import type { SeedCatalog } from '../seeds/index.js'
import type { SeedStore, Store } from '../store/index.js'

/** Query parameters as Pulzar hands them over: every value is a list (`?p=1&p=2` -> `{ p: ['1', '2'] }`). */
export type ExtensionParams = Readonly<Record<string, readonly string[]>>

/** What an extension gets besides its arguments. */
export interface ExtensionContext {
  /** The keys of the mesh: read and write through it (local or distributed, the same interface); keys are checked as they come in. */
  store: SeedStore
  /** A child logger bound to `{ extension: name }`. */
  log: Logger
  /** Aborts when the client goes away, the call's deadline passes or the peer stops. */
  signal: AbortSignal
  /** `GET` or `PUT`. */
  method: 'GET' | 'PUT'
  /** The base URL the client used to reach this peer (`http://host:port`), for links in answers. */
  baseUrl: string
}

/**
 * An extension, served at `/extension/{name}/{arg1}/{arg2}...?{params}`.
 *
 * - `args`: the path segments after the name, percent-decoded (may hold `.` and `-`);
 * - `params`: the query, every value a list;
 * - `body`: the PUT body, read whole (at most `maxsize` MiB); undefined on GET or an empty PUT.
 *
 * What it returns (or resolves to) becomes `data` of a 200 `ok` envelope and
 * must be JSON-serialisable (`undefined` becomes `null`). A throw becomes a
 * `ko` envelope with the error's message: 500, or the error's `status` when
 * it is a 4xx (`Object.assign(new Error('bad size'), { status: 400 })`).
 */
export type ExtensionHandler = (args: string[], params: ExtensionParams, body: Buffer | undefined, ctx: ExtensionContext) => unknown

/** One request to `/extension/...`, as the gateway parsed it. */
export interface ExtensionCall {
  /** Path segments after `/extension/`, percent-decoded: the name, then the args. */
  path: string[]
  params: ExtensionParams
  body?: Buffer
  method: 'GET' | 'PUT'
  baseUrl: string
}

/** Built-in extensions (`search`, `ocr`, `imagematching`, `example`) plus those seeds export. */
export interface Extensions extends Startable {
  /** Names served now, built-ins first. */
  names(): string[]
  /**
   * Runs the extension the call's path names and resolves with its `data`.
   * ERR_NOT_FOUND for an unknown name; the extension's own failure otherwise
   * (ERR_BAD_REQUEST, ERR_INTERNAL with its message, ERR_TIMEOUT).
   */
  call(call: ExtensionCall, options?: { signal?: AbortSignal }): Promise<unknown>
}

export interface ExtensionsComponents {
  store: Store
  seeds: SeedCatalog
  clock: Clock
  log: Logger
  /**
   * HTTP base URLs of this cluster's gateways, this peer's included. An
   * `imagematching` `image_url` under one of them names a key, read through
   * the store rather than fetched over HTTP. @default only the URL the client called
   */
  gateways?: () => readonly string[]
}

export interface ExtensionsInit {
  /** Tesseract workers in the OCR pool. @default the number of CPU cores */
  ocrWorkers?: number
  /** Longest an extension call may run before the client gets 504, in ms. @default 60 s */
  callTimeoutMs?: number
  /** Largest image `imagematching` downloads from `image_url`, in bytes. @default 64 MiB */
  maxImageBytes?: number
}
