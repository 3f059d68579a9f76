// The dataflow graph (Pumpkin): from the stages the cluster catalog declares,
// tag -> the stages consuming it. Pure: the engine rebuilds it on each catalog
// change.
import type { StageDecl, StageSpec } from '../types.js'

/** A seed as the catalog gives it, reduced to what the graph needs (ClusterSeed fits). */
export interface SeedWithStage {
  name: string
  peers: string[]
  /** Holders whose copy cannot run: they take no packets. */
  errors?: Record<string, string>
  pipeline?: StageDecl
}

export interface PipelineGraph {
  /** Stage name -> its spec. */
  readonly stages: ReadonlyMap<string, StageSpec>
  /** Tag -> the stages consuming it, by name order. */
  readonly consumers: ReadonlyMap<string, readonly StageSpec[]>
}

const TAG = /^[A-Za-z0-9._~+|{}-]{1,128}$/

/** A tag is 1-128 characters of the store key alphabet (it names rx directories too). */
export function isValidTag (tag: unknown): tag is string {
  return typeof tag === 'string' && TAG.test(tag)
}

/** The stage specs of the catalog's seeds that declare a pipeline stage, on the peers that can run them. */
export function stageSpecs (seeds: readonly SeedWithStage[]): StageSpec[] {
  const specs: StageSpec[] = []
  for (const seed of seeds) {
    if (seed.pipeline === undefined) continue
    const peers = seed.peers.filter(p => seed.errors?.[p] === undefined).sort()
    specs.push({ ...seed.pipeline, stage: seed.name, peers })
  }
  return specs.sort((a, b) => compare(a.stage, b.stage))
}

/** The graph of the given stages: each consumed tag maps to its consumers. */
export function buildGraph (specs: readonly StageSpec[]): PipelineGraph {
  const stages = new Map<string, StageSpec>()
  const consumers = new Map<string, StageSpec[]>()
  for (const spec of [...specs].sort((a, b) => compare(a.stage, b.stage))) {
    stages.set(spec.stage, spec)
    for (const tag of new Set(spec.consumes)) {
      const list = consumers.get(tag) ?? []
      list.push(spec)
      consumers.set(tag, list)
    }
  }
  return { stages, consumers }
}

/** The stages consuming `tag` (none: a packet of it goes nowhere). */
export function consumersOf (graph: PipelineGraph, tag: string): readonly StageSpec[] {
  return graph.consumers.get(tag) ?? []
}

/** Tag -> names of its consuming stages, as the status shows it. */
export function tagTable (graph: PipelineGraph): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const [tag, specs] of [...graph.consumers].sort((a, b) => compare(a[0], b[0]))) out[tag] = specs.map(s => s.stage)
  return out
}

/** The stages of `graph` that run on `peerId`. */
export function localStages (graph: PipelineGraph, peerId: string): StageSpec[] {
  return [...graph.stages.values()].filter(s => s.peers.includes(peerId))
}

/** Every peer running some stage, sorted. */
export function graphPeers (graph: PipelineGraph): string[] {
  const peers = new Set<string>()
  for (const s of graph.stages.values()) for (const p of s.peers) peers.add(p)
  return [...peers].sort()
}

function compare (a: string, b: string): number { return a < b ? -1 : a > b ? 1 : 0 }
