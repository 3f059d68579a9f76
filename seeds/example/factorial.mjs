// An example seed that will run as a job: the jobs layer, which launches
// seeds (`POST /launch_job/example/factorial` with {"n": 20}), is not built
// yet, so no route runs it today (see docs/design.md). Seeds that export
// `extension` are served now: see README, "Your own extensions".
export async function run (args) {
  const n = BigInt(args?.n ?? 10)
  let f = 1n
  for (let i = 2n; i <= n; i++) f *= i
  return { n: Number(n), factorial: f.toString() }
}
