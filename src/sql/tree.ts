// Traversal of libpg-query's JSON parse trees, where every node is an object under its type's name
// (`{ "ColumnRef": { … } }`).

/** Calls `visit` for every node of the tree, depth first. */
export function walk(value: unknown, visit: (type: string, node: Record<string, unknown>) => void): void {
  const stack: unknown[] = [value];
  // Bounded by the size of the tree; an explicit stack keeps deeply nested SQL from overflowing.
  while (stack.length > 0) {
    const current = stack.pop();
    if (Array.isArray(current)) {
      for (const item of current) stack.push(item);
    } else if (current && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        if (child && typeof child === 'object' && !Array.isArray(child) && /^[A-Z]/.test(key)) {
          visit(key, child as Record<string, unknown>);
        }
        stack.push(child);
      }
    }
  }
}
