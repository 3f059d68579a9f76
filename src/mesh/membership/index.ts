import type { MembershipComponents, MembershipInit } from './options.js'
import { SwimMembership } from './swim.js'
import type { Membership } from './types.js'

export type { Member, MemberMeta, MemberState, Membership, MembershipEvent } from './types.js'
export type { MembershipComponents, MembershipInit } from './options.js'
export * from './constants.js'

/** SWIM membership with Lifeguard's refinements over the given transport. */
export function createMembership (components: MembershipComponents, init: MembershipInit = {}): Membership {
  return new SwimMembership(components, init)
}
