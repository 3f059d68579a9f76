import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Logic with fakes: a worker thread per core, its modules loaded once for all the files it
          // runs (no test file mocks a module or leaves a spy or a global behind), ~40 s less per run.
          pool: 'threads',
          isolate: false,
          testTimeout: 20_000,
          hookTimeout: 20_000
        }
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/netns/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Real peers are processes of their own; on two cores, one file at a time keeps timings honest.
          fileParallelism: false
        }
      }
    ]
  }
})
