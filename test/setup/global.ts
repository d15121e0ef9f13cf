// Runs once before the whole suite: builds nothing, starts nothing shared; each test file starts
// the servers it needs so that files stay independent and can run in parallel.
export default function setup(): void {}
