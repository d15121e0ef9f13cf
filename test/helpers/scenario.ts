// Switching a running sandbox's emulated AWS to another scenario through its control route
// (POST /_sandbox/scenario), as tests do between cases. No vitest import: scripts may use it too.

/** Switches the AWS endpoint at `awsEndpoint` to scenario `name`; throws unless it answers 200. */
export async function switchScenario(awsEndpoint: string | undefined, name: string): Promise<void> {
  if (!awsEndpoint) throw new Error(`scenario ${name}: the sandbox has no AWS endpoint`);
  const response = await fetch(`${awsEndpoint}/_sandbox/scenario`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`scenario ${name}: ${response.status} ${text}`);
}

/** Runs `work` in scenario `name`, then switches back to `healthy` however `work` ended. */
export async function inScenario<T>(
  awsEndpoint: string | undefined,
  name: string,
  work: () => Promise<T>,
): Promise<T> {
  await switchScenario(awsEndpoint, name);
  try {
    return await work();
  } finally {
    await switchScenario(awsEndpoint, 'healthy');
  }
}
