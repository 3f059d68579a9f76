/** A source of uniform numbers in [0, 1); seeded in tests and simulations so runs replay. */
export type Random = () => number

/** mulberry32: a small, fast PRNG with a 32-bit state; good enough for simulations and jitter. */
export function seededRandom (seed: number): Random {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Picks up to `n` distinct items of `items` at random (partial Fisher-Yates on a copy). */
export function sample<T> (items: readonly T[], n: number, random: Random = Math.random): T[] {
  const copy = [...items]
  const k = Math.min(n, copy.length)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (copy.length - i))
    const t = copy[i]; copy[i] = copy[j]; copy[j] = t
  }
  return copy.slice(0, k)
}
