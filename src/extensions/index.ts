import { ExtensionRegistry } from './registry.js'
import type { Extensions, ExtensionsComponents, ExtensionsInit } from './types.js'

export type {
  ExtensionParams, ExtensionContext, ExtensionHandler, ExtensionCall, Extensions, ExtensionsComponents, ExtensionsInit
} from './types.js'

export function createExtensions (components: ExtensionsComponents, init: ExtensionsInit = {}): Extensions {
  return new ExtensionRegistry(components, init)
}
