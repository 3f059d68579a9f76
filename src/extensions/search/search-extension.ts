import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/logger.js'
import { keyToUrlPath, type KeyChange, type Store } from '../../store/index.js'
import type { Builtin } from '../builtin.js'
import { INDEX_PAGE } from '../constants.js'
import type { ExtensionContext, ExtensionParams } from '../types.js'
import { first, nonNegativeInt } from '../params.js'
import { dayRange } from './dates.js'
import { KeyIndex } from './key-index.js'

export interface SearchComponents { store: Store, clock: Clock, log: Logger }

/** One search hit, Pulzar's shape (pulzar-api.md §5.1). */
export interface SearchHit { key: string, url: string }

export function createSearch (components: SearchComponents): Builtin {
  return new SearchExtension(components)
}

/**
 * `GET /extension/search/{text}[?eq=|lt=|gt=date][&limit=N]`: keys whose
 * whole name contains `text`, filtered by upload day, in key order. Answers
 * from a {@link KeyIndex} built from the store's listing at start and kept
 * exact by the store's `key:change` events, so no value is ever read.
 */
class SearchExtension implements Builtin {
  readonly name = 'search'
  private readonly index = new KeyIndex()
  private unsubscribe: (() => void) | undefined

  constructor (private readonly components: SearchComponents) {}

  readonly handle = (args: string[], params: ExtensionParams, _body: Buffer | undefined, ctx: ExtensionContext): SearchHit[] => {
    const range = dayRange({ eq: first(params, 'eq'), lt: first(params, 'lt'), gt: first(params, 'gt') })
    const limit = nonNegativeInt(params, 'limit')
    // The whole rest of the path is the text, so `search/dir/k1.bin` looks for `dir/k1.bin`.
    const keys = this.index.query({ text: args.join('/'), range, limit, now: this.components.clock.now() })
    return keys.map(key => ({ key, url: `${ctx.baseUrl}/get_key/${keyToUrlPath(key)}` }))
  }

  /**
   * Subscribes first, then pages through the listing; changes that arrive
   * meanwhile are replayed after it in commit order, so a key written or
   * deleted during the build ends up as its last change left it.
   */
  async start (): Promise<void> {
    if (this.unsubscribe !== undefined) return
    const started = this.components.clock.monotonic()
    let buffered: KeyChange[] | undefined = []
    this.unsubscribe = this.components.store.on('key:change', change => {
      if (buffered !== undefined) buffered.push(change)
      else this.apply(change)
    })
    try {
      let after: string | undefined
      for (;;) {
        const page = await this.components.store.list({ after, limit: INDEX_PAGE })
        for (const meta of page) this.index.upsert(meta)
        if (page.length < INDEX_PAGE) break
        after = page[page.length - 1].key
      }
    } catch (err) {
      this.unsubscribe()
      this.unsubscribe = undefined
      throw err
    }
    for (const change of buffered) this.apply(change)
    buffered = undefined
    this.components.log.info({ keys: this.index.size, ms: Math.round(this.components.clock.monotonic() - started) }, 'search index built')
  }

  async stop (): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = undefined
  }

  private apply (change: KeyChange): void {
    if (change.type === 'put') this.index.upsert(change.meta)
    else this.index.remove(change.key)
  }
}
