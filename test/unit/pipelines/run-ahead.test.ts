import { describe, expect, it } from 'vitest'
import { nextAverage, runAhead } from '../../../src/pipelines/core/run-ahead.js'

const init = { max: 128, aheadMs: 10, start: 8 }

describe('the run-ahead of a stage instance', () => {
  it('starts small, then hands a fast instance up to the maximum and a slow one a single packet', () => {
    expect(runAhead(undefined, init)).toBe(8)
    expect(runAhead(undefined, { ...init, max: 4 })).toBe(4)
    expect(runAhead(0, init)).toBe(128)
    expect(runAhead(0.01, init)).toBe(128)
    expect(runAhead(1, init)).toBe(10)
    expect(runAhead(50, init)).toBe(1)
    expect(runAhead(0, { ...init, max: 0 })).toBe(0)
  })

  it('follows the instance\'s run times, the newest weighing a fifth', () => {
    expect(nextAverage(undefined, 5)).toBe(5)
    expect(nextAverage(5, 0)).toBe(4)
    let avg: number | undefined
    for (let i = 0; i < 30; i++) avg = nextAverage(avg, 20)
    expect(runAhead(avg, init)).toBe(1)
    for (let i = 0; i < 30; i++) avg = nextAverage(avg, 0.02)
    expect(runAhead(avg, init)).toBe(128)
  })
})
