// IPv4 CIDR blocks, as security group rules and route tables write them: does a block hold an
// address. Shared by the doctor (does the RDS group admit the task's address) and the sandbox (does
// the emulated network let the task reach the database); pure, so the sandbox may import it.

function ipToInt(ip: string): number | undefined {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Whether `ip` lies in `cidr` (`a.b.c.d/n`; a bare address is a /32). False when either is malformed. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? '32');
  const a = ipToInt(base ?? '');
  const b = ipToInt(ip);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) === (b & mask);
}
