import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, afterEach } from 'vitest'
import { cleanupPeers } from './peer.js'

/** A network namespace with one veth leg on a private bridge. */
export interface Namespace { name: string, ip: string }

export interface NetnsLab {
  namespaces: Namespace[]
  /** This process's address on the lab's bridge (with `hostLeg`), so a test can talk to every namespace. */
  hostIp?: string
  /** Cuts (or with `false` restores) the links between namespace `i` and every other namespace; the host leg stays up. */
  isolate(i: number, cut: boolean): void
  /** Removes every namespace (and with them the veths and the bridge). */
  cleanup(): void
}

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }) }

/**
 * Why namespaces cannot be made here, or undefined when they can: the tests
 * that need mDNS or broadcast skip with this reason.
 */
export function netnsUnavailable (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  const probe = `pmzprobe${randomBytes(3).toString('hex')}`
  try {
    ip('netns', 'add', probe)
    ip('netns', 'del', probe)
    return undefined
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message.split('\n')[0]}`
  }
}

/**
 * Creates `count` namespaces joined by a bridge that lives in a namespace of
 * its own, on a private 10.x/24: multicast and broadcast sent inside never
 * reach the machine's real interfaces.
 */
export function createNetnsLab (count: number, options: { hostLeg?: boolean } = {}): NetnsLab {
  const tag = randomBytes(3).toString('hex')
  const subnet = `10.${100 + (parseInt(tag.slice(0, 2), 16) % 100)}.${parseInt(tag.slice(2, 4), 16)}`
  const hub = `pmzhub${tag}`
  const namespaces: Namespace[] = []
  const made: string[] = []
  let hostIp: string | undefined
  try {
    ip('netns', 'add', hub)
    made.push(hub)
    ip('-n', hub, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', hub, 'link', 'set', 'br0', 'up')
    for (let i = 0; i < count; i++) {
      const name = `pmz${tag}n${i}`
      ip('netns', 'add', name)
      made.push(name)
      // Create the pair inside the peer namespace, then move one end to the hub.
      ip('-n', name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', `p${i}`)
      ip('-n', name, 'link', 'set', `p${i}`, 'netns', hub)
      ip('-n', hub, 'link', 'set', `p${i}`, 'master', 'br0')
      ip('-n', hub, 'link', 'set', `p${i}`, 'up')
      const addr = `${subnet}.${i + 10}`
      ip('-n', name, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
      ip('-n', name, 'link', 'set', 'eth0', 'up')
      ip('-n', name, 'link', 'set', 'lo', 'up')
      // mDNS: multicast leaves through eth0 (there is no default route in the namespace).
      ip('-n', name, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
      namespaces.push({ name, ip: addr })
    }
    if (options.hostLeg === true) {
      // A veth from this namespace to the bridge: no real interface is involved, and the peers use static join (no multicast).
      hostIp = `${subnet}.2`
      ip('link', 'add', `pmzh${tag}`, 'type', 'veth', 'peer', 'name', 'host0')
      ip('link', 'set', 'host0', 'netns', hub)
      ip('-n', hub, 'link', 'set', 'host0', 'master', 'br0')
      ip('-n', hub, 'link', 'set', 'host0', 'up')
      ip('addr', 'add', `${hostIp}/24`, 'dev', `pmzh${tag}`)
      ip('link', 'set', `pmzh${tag}`, 'up')
    }
  } catch (err) {
    for (const n of made) try { ip('netns', 'del', n) } catch {}
    throw err
  }
  return {
    namespaces,
    hostIp,
    isolate (i: number, cut: boolean) {
      // A blackhole route each way: namespace i and the others drop what they would send each other.
      for (let j = 0; j < namespaces.length; j++) {
        if (j === i) continue
        const verb = cut ? 'add' : 'del'
        try { ip('-n', namespaces[i].name, 'route', verb, 'blackhole', `${namespaces[j].ip}/32`) } catch (err) { if (cut) throw err }
        try { ip('-n', namespaces[j].name, 'route', verb, 'blackhole', `${namespaces[i].ip}/32`) } catch (err) { if (cut) throw err }
      }
    },
    cleanup () {
      for (const n of made) try { ip('netns', 'del', n) } catch {}
    }
  }
}

/**
 * For the tests of one describe block: what makes a test's lab, and hooks
 * that stop the peers and remove the lab after each test (and after all of
 * them, should a hook have failed), whether it passed or not.
 */
export function labPerTest (): (count: number, options?: { hostLeg?: boolean }) => NetnsLab {
  let lab: NetnsLab | undefined
  afterEach(async () => {
    await cleanupPeers()
    lab?.cleanup()
    lab = undefined
  })
  afterAll(() => { lab?.cleanup() })
  return (count, options) => (lab = createNetnsLab(count, options))
}
