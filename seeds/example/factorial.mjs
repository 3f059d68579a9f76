// An example seed: `POST /launch_job/example/factorial` with {"n": 20}.
// Seeds are registered by the jobs layer; see DESIGN.md "Seeds".
export async function run (args) {
  const n = BigInt(args?.n ?? 10)
  let f = 1n
  for (let i = 2n; i <= n; i++) f *= i
  return { n: Number(n), factorial: f.toString() }
}
