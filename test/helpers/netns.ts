import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

/** A network namespace with one veth leg on a private bridge. */
export interface Namespace { name: string, ip: string }

export interface NetnsLab {
  namespaces: Namespace[]
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
export function createNetnsLab (count: number): NetnsLab {
  const tag = randomBytes(3).toString('hex')
  const subnet = `10.${100 + (parseInt(tag.slice(0, 2), 16) % 100)}.${parseInt(tag.slice(2, 4), 16)}`
  const hub = `pmzhub${tag}`
  const namespaces: Namespace[] = []
  const made: string[] = []
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
  } catch (err) {
    for (const n of made) try { ip('netns', 'del', n) } catch {}
    throw err
  }
  return {
    namespaces,
    cleanup () {
      for (const n of made) try { ip('netns', 'del', n) } catch {}
    }
  }
}
